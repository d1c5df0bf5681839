package io.shardwise.pruner;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.train.DjlLlama;

import java.util.Arrays;
import java.util.List;

/**
 * LLM-Pruner's first-order vector-wise importance (Ma et al. 2023, eq. 3: |dL(D)| ~ |dL/dW_i^T W_i|, the loss change of
 * zeroing member W_i to first order) of every attention GQA group, aggregated by summation over its members (its rows
 * of W_q, W_k, W_v and its columns of W_o): the gradient of the next-token loss of the whole model over the calibration
 * windows (accumulated batch by batch, fp32 through {@link DjlLlama}). On stories260K it ranks worse than activation
 * norms (AttentionHeadPruningTest), as a first-order estimate of removing a whole head can.
 */
public final class FirstOrderHeadImportance {
    /** Windows per backward pass: bounds the activations DJL keeps for the backward. */
    private static final int BATCH = 4;

    private FirstOrderHeadImportance() {
    }

    /** Scores [layer][kv group] of {@code model} on {@code windows} (each at least 2 tokens). */
    public static double[][] scores(LlamaModel model, int[][] windows) {
        LlamaConfig c = model.config();
        if (windows.length == 0) throw new IllegalArgumentException("no calibration windows for first-order importance");
        int L = c.nLayers();
        List<String> names = new java.util.ArrayList<>();
        for (int l = 0; l < L; l++) names.addAll(List.of(TensorNames.attnQ(l), TensorNames.attnK(l), TensorNames.attnV(l), TensorNames.attnOutput(l)));
        double[][] grads = new double[names.size()][];
        try (NDManager base = NDManager.newBaseManager(); DjlLlama m = DjlLlama.of(model, base, true)) {
            for (int w0 = 0; w0 < windows.length; w0 += BATCH) {
                int b = Math.min(BATCH, windows.length - w0), n = windows[w0].length - 1;
                int[] in = new int[b * n], out = new int[b * n];
                for (int i = 0; i < b; i++) {
                    int[] w = windows[w0 + i];
                    if (w.length != n + 1) throw new IllegalArgumentException("calibration windows differ in length: " + w.length + " vs " + (n + 1));
                    System.arraycopy(w, 0, in, i * n, n);
                    System.arraycopy(w, 1, out, i * n, n);
                }
                m.zeroGradients();
                try (NDManager sm = base.newSubManager()) {
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        gc.backward(m.meanNll(sm.create(in, new Shape(b, n)), sm.create(out, new Shape(b, n))));
                    }
                    for (int k = 0; k < names.size(); k++) {
                        float[] g = m.parameters().get(names.get(k)).getGradient().toFloatArray();
                        if (grads[k] == null) grads[k] = new double[g.length];
                        for (int i = 0; i < g.length; i++) grads[k][i] += g[i];
                    }
                }
            }
        }
        int group = c.nHeads() / c.nKvHeads(), hd = c.headDim(), dim = c.dim(), qDim = c.qDim();
        double[][] s = new double[L][c.nKvHeads()];
        for (int l = 0; l < L; l++) {
            double[][] part = new double[4][c.nKvHeads()]; // signed g . w of each group's part of q, k, v, o
            for (int k = 0; k < 3; k++) { // q, k, v: rows of a group are contiguous, each dim long
                float[] w = model.tensor(names.get(4 * l + k)).toFloats();
                double[] g = grads[4 * l + k];
                int rowsPerGroup = k == 0 ? group * hd : hd;
                for (int r = 0; r < w.length / dim; r++) {
                    for (int i = r * dim; i < (r + 1) * dim; i++) part[k][r / rowsPerGroup] += g[i] * w[i];
                }
            }
            float[] wo = model.tensor(names.get(4 * l + 3)).toFloats();
            double[] go = grads[4 * l + 3];
            for (int r = 0; r < dim; r++) {
                for (int j = 0; j < qDim; j++) part[3][j / (group * hd)] += go[r * qDim + j] * wo[r * qDim + j];
            }
            for (int k = 0; k < 4; k++) for (int gr = 0; gr < c.nKvHeads(); gr++) s[l][gr] += Math.abs(part[k][gr]);
        }
        return s;
    }

    /** For notes: a layer's scores. */
    static String format(double[] s) {
        return Arrays.toString(Arrays.stream(s).mapToObj(v -> String.format(java.util.Locale.ROOT, "%.4g", v)).toArray());
    }
}
