package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.LowRankPairs;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;

import java.util.Arrays;

/**
 * A model's weights for the runtime, in the types they are stored in: each matrix is a {@link Linear} view of
 * the tensor's bytes (a mapped file stays mapped; nothing the size of a matrix is copied to the heap), the
 * token embedding is decoded one row per token with its codec, and only the small vectors (norm weights,
 * q/k/v biases) are float arrays. Two exceptions: a float matrix that is exactly 2:4 sparse is packed once at load
 * ({@link Sparse24Rows}, about half its bytes, off-heap), and a weight may be replaced or complemented by a low-rank
 * pair ({@link LowRankPairs}), run as two matmuls ({@link Projection}).
 */
public final class LlamaWeights {
    /** Sizes padded to this (16 floats = one AVX-512 vector) where the runtime wants whole vectors. */
    public static final int PAD = 16;

    final LlamaConfig config;
    final Tensor tokenEmbedding;
    private final TensorCodec embeddingCodec;
    final Layer[] layers;
    final float[] outputNorm;
    final Projection classifier;
    private final boolean confined;
    /** Whether 2:4 sparse float matrices are packed for the sparse kernels. */
    private final boolean packSparse;
    /** A thread that never starts: segments of shared and global arenas are accessible by it, confined ones are not. */
    private static final Thread OTHER_THREAD = Thread.ofPlatform().unstarted(() -> { });

    /** One block; the biases are null when the model has none. */
    record Layer(float[] attnNorm, Projection wq, Projection wk, Projection wv, Projection wo, float[] bq, float[] bk, float[] bv,
                 float[] ffnNorm, Projection w1, Projection w3, Projection w2) {
    }

    /** Drops layer {@code l}'s mapped weight pages from this process's memory (the page cache keeps them). */
    void releaseLayer(int l) {
        Layer L = layers[l];
        for (Projection m : new Projection[]{L.wq(), L.wk(), L.wv(), L.wo(), L.w1(), L.w3(), L.w2()}) release(m);
    }

    static void release(Projection p) {
        for (Linear m : new Linear[]{p.dense(), p.loraA(), p.loraB()}) {
            if (m != null && m.data().isMapped()) m.data().unload();
        }
    }

    /** The model's weights, 2:4 sparse float matrices packed (see {@link #LlamaWeights(LlamaModel, boolean)}). */
    public LlamaWeights(LlamaModel model) {
        this(model, true);
    }

    /**
     * The model's weights; with {@code packSparse}, every F32/F16/BF16 matrix that is exactly 2:4 sparse is packed
     * for the sparse kernels (a dense matrix is told apart in its first groups; a sparse one costs one pass and half its
     * size in memory). Without, every matrix runs dense as stored (results equal to rounding).
     */
    public LlamaWeights(LlamaModel model, boolean packSparse) {
        this.packSparse = packSparse;
        this.config = model.config();
        LlamaConfig c = config;
        int dim = c.dim(), qd = c.qDim(), kv = c.kvDim(), hid = c.hiddenDim();
        this.tokenEmbedding = model.tensor(TensorNames.TOKEN_EMBD);
        check(tokenEmbedding, dim, c.vocabSize());
        this.embeddingCodec = codec(tokenEmbedding);
        this.layers = new Layer[c.nLayers()];
        for (int l = 0; l < c.nLayers(); l++) {
            layers[l] = new Layer(
                    vector(model.tensor(TensorNames.attnNorm(l)), dim),
                    projection(model, TensorNames.attnQ(l), dim, qd),
                    projection(model, TensorNames.attnK(l), dim, kv),
                    projection(model, TensorNames.attnV(l), dim, kv),
                    projection(model, TensorNames.attnOutput(l), qd, dim),
                    bias(model, TensorNames.attnQ(l), qd),
                    bias(model, TensorNames.attnK(l), kv),
                    bias(model, TensorNames.attnV(l), kv),
                    vector(model.tensor(TensorNames.ffnNorm(l)), dim),
                    projection(model, TensorNames.ffnGate(l), dim, hid),
                    projection(model, TensorNames.ffnUp(l), dim, hid),
                    projection(model, TensorNames.ffnDown(l), hid, dim));
        }
        this.outputNorm = vector(model.tensor(TensorNames.OUTPUT_NORM), dim);
        if (LowRankPairs.hasFactors(model.tensors(), TensorNames.TOKEN_EMBD)) {
            throw new IllegalArgumentException("tensor " + TensorNames.TOKEN_EMBD + " has low-rank factors, but the embedding is looked up by row and cannot be factorized");
        }
        boolean untied = model.tensors().containsKey(TensorNames.OUTPUT) || LowRankPairs.hasFactors(model.tensors(), TensorNames.OUTPUT);
        this.classifier = projection(model, untied ? TensorNames.OUTPUT : TensorNames.TOKEN_EMBD, dim, c.vocabSize());
        this.confined = !model.tensors().values().stream().allMatch(t -> t.data().isAccessibleBy(OTHER_THREAD));
    }

    /**
     * True when some tensor lives in a thread-confined arena (e.g. a file mapped with {@code Arena.ofConfined()}): only
     * the thread that opened it may read it, so the runtime and perplexity then run on that thread alone.
     */
    public boolean threadConfined() {
        return confined;
    }

    public LlamaConfig config() {
        return config;
    }

    /** Row {@code token} of the token embedding, decoded into {@code dst[off, off + dim)}. */
    void embed(int token, float[] dst, int off) {
        int dim = config.dim();
        embeddingCodec.dequantize(tokenEmbedding.data(), (long) token * dim, dim, dim, dst, off);
    }

    static int roundUp(int n) {
        return (n + PAD - 1) / PAD * PAD;
    }

    /** The bias of a weight ({@code blk.N.attn_q.weight} -> {@code blk.N.attn_q.bias}), or null when the model has none. */
    private float[] bias(LlamaModel model, String weightName, int n) {
        String name = weightName.substring(0, weightName.length() - ".weight".length()) + ".bias";
        Tensor t = model.tensors().get(name);
        if (t == null) {
            if (config.attentionBias()) throw new IllegalArgumentException("model config has attention_bias but tensor " + name + " is missing");
            return null;
        }
        return vector(t, n);
    }

    private static float[] vector(Tensor t, int n) {
        check(t, n, 1);
        codec(t);
        return t.toFloats();
    }

    /**
     * The weight {@code name} ([in, out]) and/or its low-rank pair {@code name.lora_a} ([in, rank]) and
     * {@code name.lora_b} ([rank, out]); the weight may be absent only when the pair is there.
     */
    private Projection projection(LlamaModel model, String name, int in, int out) {
        Tensor w = model.tensors().get(name);
        Linear dense = w == null ? null : linear(w, in, out);
        Linear a = null, b = null;
        if (LowRankPairs.hasFactors(model.tensors(), name)) {
            Tensor ta = model.tensor(TensorNames.loraA(name));
            a = linear(ta, in, ta.rows());
            b = linear(model.tensor(TensorNames.loraB(name)), ta.rows(), out);
        } else if (dense == null) {
            throw new IllegalArgumentException("model has no tensor " + name + " (nor its low-rank factors " + TensorNames.loraA(name)
                    + " and " + TensorNames.loraB(name) + ")");
        }
        Sparse24Rows packed = dense != null && packSparse ? Sparse24Rows.pack(dense) : null;
        if (packed != null && dense.data().isMapped()) dense.data().unload(); // the scan paged it in; the kernels read the packed copy
        return new Projection(name, dense, packed, a, b, in, out);
    }

    /** How many matrices were packed as 2:4 sparse, and their packed and dense bytes. */
    public record SparseStats(int matrices, long packedBytes, long denseBytes) {
    }

    /** The 2:4 packing of this model's matrices (for logs and benchmarks). */
    public SparseStats sparseStats() {
        int count = 0;
        long packed = 0, dense = 0;
        java.util.List<Projection> all = new java.util.ArrayList<>();
        for (Layer L : layers) all.addAll(java.util.List.of(L.wq(), L.wk(), L.wv(), L.wo(), L.w1(), L.w3(), L.w2()));
        all.add(classifier);
        for (Projection p : all) {
            if (p.sparse() == null) continue;
            count++;
            packed += p.sparse().byteSize();
            dense += p.dense().data().byteSize();
        }
        return new SparseStats(count, packed, dense);
    }

    private static Linear linear(Tensor t, int in, int out) {
        check(t, in, out);
        codec(t);
        return Linear.of(t);
    }

    private static TensorCodec codec(Tensor t) {
        if (!TensorCodecs.supports(t.type())) {
            throw new IllegalArgumentException("tensor " + t.name() + " has type " + t.type().typeName() + ", which the runtime cannot read");
        }
        return TensorCodecs.codec(t.type());
    }

    private static void check(Tensor t, int in, int out) {
        long[] want = out == 1 ? new long[]{in} : new long[]{in, out};
        if (!Arrays.equals(t.shape(), want)) {
            throw new IllegalArgumentException("tensor " + t.name() + " has shape " + Arrays.toString(t.shape())
                    + " but the model config needs " + Arrays.toString(want));
        }
    }
}
