package io.shardwise.core.tokenizer;

import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.runtime.Tokenizer;

/** The one place that picks the encoder for a vocabulary, and the token facts every format writer needs. */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * Byte-level BPE for {@link Vocabulary.Kind#BYTE_LEVEL_BPE}; HF SentencePiece-style BPE (merges by rank) for a
     * SentencePiece vocabulary read from a tokenizer.json; llama2.c's score-driven encoder for llama2.c and GGUF "llama".
     */
    public static TextTokenizer forVocabulary(Vocabulary v) {
        if (v.kind() == Vocabulary.Kind.BYTE_LEVEL_BPE) return new ByteLevelBpeTokenizer(v);
        if (!v.merges().isEmpty() && SentencePieceBpeTokenizer.Prefix.byName(v.preTokenizer()) != null) return new SentencePieceBpeTokenizer(v);
        return new Tokenizer(v);
    }

    /** Token {@code i}'s text without llama2.c's newline padding of BOS/EOS. */
    public static String text(Vocabulary v, int i) {
        String t = v.tokens().get(i);
        return (i == v.bos() || i == v.eos()) && v.kind() == Vocabulary.Kind.SENTENCEPIECE ? t.strip() : t;
    }

    /** GGUF token types: the vocabulary's own, else derived as llama.cpp's llama2.c converter does (unk, BOS/EOS control, byte). */
    public static int[] tokenTypes(Vocabulary v) {
        if (v.tokenTypes().length == v.size()) return v.tokenTypes().clone();
        int n = v.size();
        int unk = v.tokens().indexOf("<unk>");
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            String t = text(v, i);
            boolean control = i == v.bos() || i == v.eos();
            types[i] = i == unk ? Vocabulary.TYPE_UNKNOWN : control || t.isEmpty() ? Vocabulary.TYPE_CONTROL
                    : v.kind() == Vocabulary.Kind.SENTENCEPIECE && GgufByteToken.isByteToken(t) ? Vocabulary.TYPE_BYTE : Vocabulary.TYPE_NORMAL;
        }
        return types;
    }
}
