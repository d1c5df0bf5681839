package io.shardwise.core.model;

import io.shardwise.proto.v1.ModelConfig;

/**
 * Hyper-parameters of a Llama-family model (llama2.c header plus what GGUF and HF config.json add).
 * {@code arch} is the GGUF architecture ("llama" or "qwen2"); {@code ropeNeox} rotates halves of each head
 * (HF/NEOX layout) instead of llama2.c's interleaved pairs; {@code attentionBias} means q/k/v carry biases.
 * {@code headDim} is each attention head's width (0 given: dim / n_heads); after attention-head pruning the query
 * width {@link #qDim()} = n_heads * head_dim is below dim (GGUF attention.key_length, HF head_dim).
 */
public record LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                          float ropeTheta, float normEps, boolean tiedEmbeddings,
                          String arch, boolean ropeNeox, RopeScaling ropeScaling, boolean attentionBias, int headDim) {

    public static final String LLAMA = "llama";

    public LlamaConfig {
        if (dim <= 0 || hiddenDim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || vocabSize <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("model config has a non-positive size: " + this);
        }
        if (headDim < 0) throw new IllegalArgumentException("head_dim " + headDim + " is negative");
        if (headDim == 0) {
            if (dim % nHeads != 0) throw new IllegalArgumentException("dim " + dim + " is not a multiple of n_heads " + nHeads + " (and head_dim is not given)");
            headDim = dim / nHeads;
        }
        if (nHeads % nKvHeads != 0) throw new IllegalArgumentException("n_heads " + nHeads + " is not a multiple of n_kv_heads " + nKvHeads);
        if (arch == null || arch.isEmpty()) arch = LLAMA;
        if (ropeScaling == null) ropeScaling = RopeScaling.NONE;
    }

    /** A plain Llama (llama2.c) config: interleaved RoPE, no scaling, no biases. */
    public LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                       float ropeTheta, float normEps, boolean tiedEmbeddings) {
        this(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, ropeTheta, normEps, tiedEmbeddings,
                LLAMA, false, RopeScaling.NONE, false, 0);
    }

    /** A config with head_dim = dim / n_heads. */
    public LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                       float ropeTheta, float normEps, boolean tiedEmbeddings,
                       String arch, boolean ropeNeox, RopeScaling ropeScaling, boolean attentionBias) {
        this(dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, ropeTheta, normEps, tiedEmbeddings,
                arch, ropeNeox, ropeScaling, attentionBias, 0);
    }

    /** The width of one attention head (same as {@link #headDim()}). */
    public int headSize() {
        return headDim;
    }

    /** Width of all query heads together: attn_q's outputs and attn_output's inputs. */
    public int qDim() {
        return nHeads * headDim;
    }

    public int kvDim() {
        return nKvHeads * headDim;
    }

    /** True when head_dim is not dim / n_heads (formats that derive it from those cannot hold this config). */
    public boolean explicitHeadDim() {
        return nHeads * headDim != dim;
    }

    /** The same config with other head counts (attention-head pruning), head_dim kept. */
    public LlamaConfig withHeads(int heads, int kvHeads) {
        return new LlamaConfig(dim, hiddenDim, nLayers, heads, kvHeads, vocabSize, seqLen, ropeTheta, normEps, tiedEmbeddings,
                arch, ropeNeox, ropeScaling, attentionBias, headDim);
    }

    /** The same config with another block count (layer removal). */
    public LlamaConfig withLayers(int layers) {
        return new LlamaConfig(dim, hiddenDim, layers, nHeads, nKvHeads, vocabSize, seqLen, ropeTheta, normEps, tiedEmbeddings,
                arch, ropeNeox, ropeScaling, attentionBias, headDim);
    }

    /** The same config with another feed_forward_length (MLP channel pruning). */
    public LlamaConfig withHiddenDim(int hidden) {
        return new LlamaConfig(dim, hidden, nLayers, nHeads, nKvHeads, vocabSize, seqLen, ropeTheta, normEps, tiedEmbeddings,
                arch, ropeNeox, ropeScaling, attentionBias, headDim);
    }

    public ModelConfig toProto() {
        ModelConfig.Builder b = ModelConfig.newBuilder().setDim(dim).setHiddenDim(hiddenDim).setNLayers(nLayers).setNHeads(nHeads)
                .setNKvHeads(nKvHeads).setVocabSize(vocabSize).setSeqLen(seqLen).setRopeTheta(ropeTheta)
                .setNormEps(normEps).setTiedEmbeddings(tiedEmbeddings).setArch(arch).setRopeNeox(ropeNeox)
                .setAttentionBias(attentionBias);
        if (explicitHeadDim()) b.setHeadDim(headDim); // 0 (absent) means dim / n_heads: old manifests keep their digests
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
                c.getArch(), c.getRopeNeox(), scaling, c.getAttentionBias(), c.getHeadDim());
    }
}
