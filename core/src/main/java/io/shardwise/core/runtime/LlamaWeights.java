package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;

import java.util.Arrays;

/**
 * A model's weights as float32, dequantized once from whatever codec type they are stored in.
 * Matrices are kept transposed ({@code [in][out]}) for {@link Kernels#matmul}, and the hidden and
 * vocabulary sizes are padded with zeros to a multiple of {@link #PAD} so vector loops need no tails.
 */
public final class LlamaWeights {
    /** Sizes padded to this (16 floats = one AVX-512 vector); padded weights are zero, so results are unchanged. */
    public static final int PAD = 16;

    final LlamaConfig config;
    final int hiddenPad;
    final int vocabPad;
    /** [vocab][dim] */
    final float[] tokenEmbedding;
    final Layer[] layers;
    final float[] outputNorm;
    /** [dim][vocabPad] */
    final float[] classifier;

    record Layer(float[] attnNorm, float[] wq, float[] wk, float[] wv, float[] wo,
                 float[] ffnNorm, float[] w1, float[] w3, float[] w2) {
    }

    public LlamaWeights(LlamaModel model) {
        this.config = model.config();
        LlamaConfig c = config;
        int dim = c.dim(), kv = c.kvDim(), hid = c.hiddenDim();
        this.hiddenPad = roundUp(hid);
        this.vocabPad = roundUp(c.vocabSize());
        this.tokenEmbedding = matrix(model.tensor(TensorNames.TOKEN_EMBD), dim, c.vocabSize());
        this.layers = new Layer[c.nLayers()];
        for (int l = 0; l < c.nLayers(); l++) {
            layers[l] = new Layer(
                    vector(model.tensor(TensorNames.attnNorm(l)), dim),
                    transposed(model.tensor(TensorNames.attnQ(l)), dim, dim, dim, dim),
                    transposed(model.tensor(TensorNames.attnK(l)), dim, kv, dim, kv),
                    transposed(model.tensor(TensorNames.attnV(l)), dim, kv, dim, kv),
                    transposed(model.tensor(TensorNames.attnOutput(l)), dim, dim, dim, dim),
                    vector(model.tensor(TensorNames.ffnNorm(l)), dim),
                    transposed(model.tensor(TensorNames.ffnGate(l)), dim, hid, dim, hiddenPad),
                    transposed(model.tensor(TensorNames.ffnUp(l)), dim, hid, dim, hiddenPad),
                    transposed(model.tensor(TensorNames.ffnDown(l)), hid, dim, hiddenPad, dim));
        }
        this.outputNorm = vector(model.tensor(TensorNames.OUTPUT_NORM), dim);
        this.classifier = transposed(model.classifier(), dim, c.vocabSize(), dim, vocabPad);
    }

    public LlamaConfig config() {
        return config;
    }

    static int roundUp(int n) {
        return (n + PAD - 1) / PAD * PAD;
    }

    private static float[] vector(Tensor t, int n) {
        check(t, n, 1);
        return t.toFloats();
    }

    /** A weight with ggml shape {in, out} (row-major [out][in]) as it is. */
    private static float[] matrix(Tensor t, int in, int out) {
        check(t, in, out);
        return t.toFloats();
    }

    /** A weight with ggml shape {in, out} as [inPad][outPad], zero-padded. */
    private static float[] transposed(Tensor t, int in, int out, int inPad, int outPad) {
        check(t, in, out);
        float[] w = t.toFloats();
        float[] wt = new float[inPad * outPad];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) wt[i * outPad + o] = w[o * in + i];
        }
        return wt;
    }

    private static void check(Tensor t, int in, int out) {
        long[] want = out == 1 ? new long[]{in} : new long[]{in, out};
        if (!Arrays.equals(t.shape(), want)) {
            throw new IllegalArgumentException("tensor " + t.name() + " has shape " + Arrays.toString(t.shape())
                    + " but the model config needs " + Arrays.toString(want));
        }
    }
}
