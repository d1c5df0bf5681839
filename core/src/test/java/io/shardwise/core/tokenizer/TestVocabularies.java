package io.shardwise.core.tokenizer;

import io.shardwise.core.model.Vocabulary;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Test vocabularies for other packages' tests. */
public final class TestVocabularies {
    private TestVocabularies() {
    }

    /** A Qwen2-style byte-level BPE vocabulary of exactly {@code size} tokens (merges learned from a small corpus, padded with unused tokens). */
    public static Vocabulary byteLevel(int size) {
        Vocabulary v = TinyBpeTrainer.byteLevel(PreTokenizer.QWEN2, size - 260, false);
        List<String> tokens = new ArrayList<>(v.tokens());
        int[] types = Arrays.copyOf(v.tokenTypes(), size);
        for (int i = tokens.size(); i < size; i++) {
            tokens.add("[PAD" + i + "]");
            types[i] = Vocabulary.TYPE_UNUSED;
        }
        return new Vocabulary(tokens, new float[size], v.maxTokenLength(), v.bos(), v.eos(), v.kind(), v.merges(), types, v.preTokenizer(), false);
    }
}
