package io.shardwise.core.model;

import java.util.List;

/**
 * A model's vocabulary, of one of two kinds:
 * <ul>
 * <li>{@link Kind#SENTENCEPIECE}: SentencePiece-BPE as llama2.c, GGUF's "llama" tokenizer model and HF Llama 2/Mistral
 * tokenizer.json hold it: token strings (UTF-8, with a space where SentencePiece has '▁'), merge scores, byte
 * tokens {@code <0xHH>}; {@code merges} (raw, with '▁') only when it came from a tokenizer.json.</li>
 * <li>{@link Kind#BYTE_LEVEL_BPE}: GPT-2 style byte-level BPE (GPT-2, Llama 3, Qwen2; GGUF "gpt2"): token strings in
 * the byte-to-unicode alphabet, merges "left right" by rank, and a pre-tokenizer named as llama.cpp's
 * tokenizer.ggml.pre ("gpt2", "llama-bpe", "qwen2").</li>
 * </ul>
 * {@code tokenTypes} are GGUF's token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or
 * empty when unknown. {@code preTokenizer} for SentencePiece names how the '▁' prefix is added ("" = llama2.c's
 * dummy prefix, see {@link io.shardwise.core.tokenizer.SentencePieceBpeTokenizer}).
 */
public record Vocabulary(List<String> tokens, float[] scores, int maxTokenLength, int bos, int eos,
                         Kind kind, List<String> merges, int[] tokenTypes, String preTokenizer, boolean addBos) {

    public enum Kind { SENTENCEPIECE, BYTE_LEVEL_BPE }

    public static final int TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6;

    public Vocabulary {
        if (tokens.size() != scores.length) throw new IllegalArgumentException("vocabulary: " + tokens.size() + " tokens but " + scores.length + " scores");
        if (kind == null) kind = Kind.SENTENCEPIECE;
        merges = merges == null ? List.of() : List.copyOf(merges);
        if (tokenTypes == null) tokenTypes = new int[0];
        if (tokenTypes.length != 0 && tokenTypes.length != tokens.size()) {
            throw new IllegalArgumentException("vocabulary: " + tokens.size() + " tokens but " + tokenTypes.length + " token types");
        }
        if (preTokenizer == null) preTokenizer = "";
    }

    /** A llama2.c-style SentencePiece vocabulary (scores, no merges, BOS added). */
    public Vocabulary(List<String> tokens, float[] scores, int maxTokenLength, int bos, int eos) {
        this(tokens, scores, maxTokenLength, bos, eos, Kind.SENTENCEPIECE, List.of(), new int[0], "", true);
    }

    public int size() {
        return tokens.size();
    }

    /** The GGUF token type of token {@code i}, or 0 when this vocabulary carries none. */
    public int tokenType(int i) {
        return tokenTypes.length == 0 ? 0 : tokenTypes[i];
    }

    /** Control, unknown and user-defined tokens are matched whole in text before BPE (HF "added tokens"). */
    public boolean isSpecial(int i) {
        int t = tokenType(i);
        return t == TYPE_CONTROL || t == TYPE_USER_DEFINED || t == TYPE_UNKNOWN;
    }
}
