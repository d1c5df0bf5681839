package io.shardwise.core.model;

import io.shardwise.proto.v1.ModelConfig;

/**
 * Hyper-parameters of a Llama-family model (llama2.c header plus what GGUF and HF config.json add).
 * {@code arch} is the GGUF architecture ("llama" or "qwen2"); {@code ropeNeox} rotates halves of each head
 * (HF/NEOX layout) instead of llama2.c's interleaved pairs; {@code attentionBias} means q/k/v carry biases.
 */
public record LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                          float ropeTheta, float normEps, boolean tiedEmbeddings,
                          String arch, boolean ropeNeox, RopeScaling ropeScaling, boolean attentionBias) {

    public static final String LLAMA = "llama";

    public LlamaConfig {
        if (dim <= 0 || hiddenDim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || vocabSize <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("model config has a non-positive size: " + this);
        }
        if (dim % nHeads != 0) throw new IllegalArgumentException("dim " + dim + " is not a multiple of n_heads " + nHeads);
        if (nHeads % nKvHeads != 0) throw new IllegalArgumentException("n_heads " + nHeads + " is not a multiple of n_kv_heads " + nKvHeads);
        if (arch == null || arch.isEmpty()) arch = LLAMA;
        if (ropeScaling == null) ropeScaling = RopeScaling.NONE;
    }

    /** A plain Llama (llama2.c) config: interleaved RoPE, no scaling, no biases. */
    public LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                       float ropeTheta, float normEps, boolean tiedEmbeddings) {
        this(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, ropeTheta, normEps, tiedEmbeddings,
                LLAMA, false, RopeScaling.NONE, false);
    }

    public int headSize() {
        return dim / nHeads;
    }

    public int kvDim() {
        return dim * nKvHeads / nHeads;
    }

    public ModelConfig toProto() {
        ModelConfig.Builder b = ModelConfig.newBuilder().setDim(dim).setHiddenDim(hiddenDim).setNLayers(nLayers).setNHeads(nHeads)
                .setNKvHeads(nKvHeads).setVocabSize(vocabSize).setSeqLen(seqLen).setRopeTheta(ropeTheta)
                .setNormEps(normEps).setTiedEmbeddings(tiedEmbeddings).setArch(arch).setRopeNeox(ropeNeox)
                .setAttentionBias(attentionBias);
        if (ropeScaling.type() != RopeScaling.Type.NONE) {
            b.setRopeScaling(io.shardwise.proto.v1.RopeScaling.newBuilder().setType(ropeScaling.type().name().toLowerCase())
                    .setFactor(ropeScaling.factor()).setLowFreqFactor(ropeScaling.lowFreqFactor())
                    .setHighFreqFactor(ropeScaling.highFreqFactor()).setOriginalContext(ropeScaling.originalContext()));
        }
        return b.build();
    }

    public static LlamaConfig fromProto(ModelConfig c) {
        RopeScaling scaling = RopeScaling.NONE;
        if (c.hasRopeScaling() && !c.getRopeScaling().getType().isEmpty() && !"none".equals(c.getRopeScaling().getType())) {
            var r = c.getRopeScaling();
            scaling = new RopeScaling(RopeScaling.Type.valueOf(r.getType().toUpperCase()), r.getFactor(), r.getLowFreqFactor(),
                    r.getHighFreqFactor(), r.getOriginalContext());
        }
        return new LlamaConfig(c.getDim(), c.getHiddenDim(), c.getNLayers(), c.getNHeads(), c.getNKvHeads(),
                c.getVocabSize(), c.getSeqLen(), c.getRopeTheta(), c.getNormEps(), c.getTiedEmbeddings(),
                c.getArch(), c.getRopeNeox(), scaling, c.getAttentionBias());
    }
}
