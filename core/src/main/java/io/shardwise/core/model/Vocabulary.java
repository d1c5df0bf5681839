package io.shardwise.core.model;

import java.util.List;

/**
 * A SentencePiece-BPE vocabulary as llama2.c and GGUF ("llama" tokenizer model) hold it:
 * token strings (UTF-8, with a leading space where SentencePiece has '▁'), merge scores, and
 * the ids of BOS and EOS. Byte tokens are {@code <0xHH>} at id byte+3 as in llama2.c.
 */
public record Vocabulary(List<String> tokens, float[] scores, int maxTokenLength, int bos, int eos) {
    public Vocabulary {
        if (tokens.size() != scores.length) throw new IllegalArgumentException("vocabulary: " + tokens.size() + " tokens but " + scores.length + " scores");
    }

    public int size() {
        return tokens.size();
    }
}
