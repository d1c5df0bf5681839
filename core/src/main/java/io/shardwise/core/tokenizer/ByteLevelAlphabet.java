package io.shardwise.core.tokenizer;

/**
 * GPT-2's reversible byte-to-unicode map (openai/gpt-2 encoder.py {@code bytes_to_unicode}): printable Latin-1 bytes
 * map to themselves, the other 68 bytes to U+0100 onwards, so every byte string is a string of visible characters.
 */
final class ByteLevelAlphabet {
    private static final char[] TO_CHAR = new char[256];
    private static final int[] TO_BYTE = new int[324];

    static {
        java.util.Arrays.fill(TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            TO_CHAR[b] = printable ? (char) b : (char) (256 + n++);
            TO_BYTE[TO_CHAR[b]] = b;
        }
    }

    private ByteLevelAlphabet() {
    }

    static String encode(byte[] bytes) {
        char[] c = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) c[i] = TO_CHAR[bytes[i] & 0xFF];
        return new String(c);
    }

    static char charOf(int b) {
        return TO_CHAR[b & 0xFF];
    }

    /** Appends the bytes a byte-level token string stands for; false when it has a character outside the alphabet. */
    static boolean decode(String token, java.io.ByteArrayOutputStream out) {
        for (int i = 0; i < token.length(); i++) {
            char ch = token.charAt(i);
            int b = ch < TO_BYTE.length ? TO_BYTE[ch] : -1;
            if (b < 0) return false;
            out.write(b);
        }
        return true;
    }
}
