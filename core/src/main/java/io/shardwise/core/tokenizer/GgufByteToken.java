package io.shardwise.core.tokenizer;

/** SentencePiece's byte tokens {@code <0xHH>} (byte_fallback), as GGUF token type 6. */
final class GgufByteToken {
    private GgufByteToken() {
    }

    static boolean isByteToken(String t) {
        return t.length() == 6 && t.startsWith("<0x") && t.endsWith(">") && hex(t.charAt(3)) && hex(t.charAt(4));
    }

    private static boolean hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
    }
}
