package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;

import java.util.Arrays;

/**
 * A model's weights for the runtime, in the types they are stored in: each matrix is a {@link Linear} view of
 * the tensor's bytes (a mapped file stays mapped; nothing the size of a matrix is copied to the heap), the
 * token embedding is decoded one row per token with its codec, and only the small vectors (norm weights,
 * q/k/v biases) are float arrays.
 */
public final class LlamaWeights {
    /** Sizes padded to this (16 floats = one AVX-512 vector) where the runtime wants whole vectors. */
    public static final int PAD = 16;

    final LlamaConfig config;
    final Tensor tokenEmbedding;
    private final TensorCodec embeddingCodec;
    final Layer[] layers;
    final float[] outputNorm;
    final Linear classifier;
    private final boolean confined;
    /** A thread that never starts: segments of shared and global arenas are accessible by it, confined ones are not. */
    private static final Thread OTHER_THREAD = Thread.ofPlatform().unstarted(() -> { });

    /** One block; the biases are null when the model has none. */
    record Layer(float[] attnNorm, Linear wq, Linear wk, Linear wv, Linear wo, float[] bq, float[] bk, float[] bv,
                 float[] ffnNorm, Linear w1, Linear w3, Linear w2) {
    }

    /** Drops layer {@code l}'s mapped weight pages from this process's memory (the page cache keeps them). */
    void releaseLayer(int l) {
        Layer L = layers[l];
        for (Linear m : new Linear[]{L.wq(), L.wk(), L.wv(), L.wo(), L.w1(), L.w3(), L.w2()}) release(m);
    }

    static void release(Linear m) {
        if (m.data().isMapped()) m.data().unload();
    }

    public LlamaWeights(LlamaModel model) {
        this.config = model.config();
        LlamaConfig c = config;
        int dim = c.dim(), kv = c.kvDim(), hid = c.hiddenDim();
        this.tokenEmbedding = model.tensor(TensorNames.TOKEN_EMBD);
        check(tokenEmbedding, dim, c.vocabSize());
        this.embeddingCodec = codec(tokenEmbedding);
        this.layers = new Layer[c.nLayers()];
        for (int l = 0; l < c.nLayers(); l++) {
            layers[l] = new Layer(
                    vector(model.tensor(TensorNames.attnNorm(l)), dim),
                    linear(model.tensor(TensorNames.attnQ(l)), dim, dim),
                    linear(model.tensor(TensorNames.attnK(l)), dim, kv),
                    linear(model.tensor(TensorNames.attnV(l)), dim, kv),
                    linear(model.tensor(TensorNames.attnOutput(l)), dim, dim),
                    bias(model, TensorNames.attnQ(l), dim),
                    bias(model, TensorNames.attnK(l), kv),
                    bias(model, TensorNames.attnV(l), kv),
                    vector(model.tensor(TensorNames.ffnNorm(l)), dim),
                    linear(model.tensor(TensorNames.ffnGate(l)), dim, hid),
                    linear(model.tensor(TensorNames.ffnUp(l)), dim, hid),
                    linear(model.tensor(TensorNames.ffnDown(l)), hid, dim));
        }
        this.outputNorm = vector(model.tensor(TensorNames.OUTPUT_NORM), dim);
        this.classifier = linear(model.classifier(), dim, c.vocabSize());
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
