package io.shardwise.core.model;

import io.shardwise.proto.v1.ModelConfig;

/** Hyper-parameters of a Llama-family model (llama2.c header plus what GGUF adds). */
public record LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                          float ropeTheta, float normEps, boolean tiedEmbeddings) {

    public LlamaConfig {
        if (dim <= 0 || hiddenDim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || vocabSize <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("model config has a non-positive size: " + this);
        }
        if (dim % nHeads != 0) throw new IllegalArgumentException("dim " + dim + " is not a multiple of n_heads " + nHeads);
        if (nHeads % nKvHeads != 0) throw new IllegalArgumentException("n_heads " + nHeads + " is not a multiple of n_kv_heads " + nKvHeads);
    }

    public int headSize() {
        return dim / nHeads;
    }

    public int kvDim() {
        return dim * nKvHeads / nHeads;
    }

    public ModelConfig toProto() {
        return ModelConfig.newBuilder().setDim(dim).setHiddenDim(hiddenDim).setNLayers(nLayers).setNHeads(nHeads)
                .setNKvHeads(nKvHeads).setVocabSize(vocabSize).setSeqLen(seqLen).setRopeTheta(ropeTheta)
                .setNormEps(normEps).setTiedEmbeddings(tiedEmbeddings).build();
    }

    public static LlamaConfig fromProto(ModelConfig c) {
        return new LlamaConfig(c.getDim(), c.getHiddenDim(), c.getNLayers(), c.getNHeads(), c.getNKvHeads(),
                c.getVocabSize(), c.getSeqLen(), c.getRopeTheta(), c.getNormEps(), c.getTiedEmbeddings());
    }
}
