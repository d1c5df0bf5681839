package io.shardwise.quantizer;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.work.ShardInput;

import java.util.HashMap;
import java.util.Map;

/**
 * The importance matrix of llama.cpp's {@code imatrix} tool (ggml-org/llama.cpp #4861, "importance matrix" K-quants):
 * for each linear, imp_j = (1/T) sum_t x_tj^2 over the calibration tokens, one weight per input column; the K-quant
 * and IQ quantizers minimize sum_j imp_j (w_j - q_j)^2-style weighted errors with it (ggml's quantize_chunk).
 * The searches are scale-free, so this mean weighs as llama.cpp's saved values do. llama.cpp collects blk.* by default and
 * output.weight with --process-output; here the head always counts, and a tied token embedding takes the head's
 * importance too (stories260K IQ4_NL: KL to fp32 0.093 -> 0.081, ImatrixTest).
 */
public final class ImportanceMatrix implements LlamaRuntime.LinearObserver {
    private static final class Sums {
        final double[] sq;
        long tokens;

        Sums(int n) {
            sq = new double[n];
        }
    }

    private final Map<String, Sums> byTensor = new HashMap<>();

    @Override
    public void input(Linear[] weights, float[] x, int off, int T, int n) {
        Sums s = byTensor.computeIfAbsent(weights[0].name(), k -> new Sums(n));
        for (Linear w : weights) byTensor.putIfAbsent(w.name(), s);
        for (int t = 0; t < T; t++) {
            int base = off + t * n;
            for (int j = 0; j < n; j++) s.sq[j] += (double) x[base + j] * x[base + j];
        }
        s.tokens += T;
    }

    /**
     * Runs {@code windows} through every layer of {@code model} and records the classifier's input (the final-normed
     * states): the importance of a tied token embedding, which a block shard never sees.
     */
    public void observeHead(LlamaModel model, int[][] windows, ShardInput.Progress progress) {
        LlamaRuntime rt = new LlamaRuntime(model);
        Tensor c = model.classifier();
        Linear[] head = {new Linear(c.name(), c.type(), c.data(), c.cols(), c.rows())};
        int L = model.config().nLayers();
        for (int s = 0; s < windows.length; s++) {
            int T = windows[s].length;
            LlamaRuntime.Session session = rt.newSession(T);
            float[] normed = session.outputNormed(session.layers(session.embed(windows[s], 0, T), T, 0, L), T);
            input(head, normed, 0, T, normed.length / T);
            progress.report(0.5 * (s + 1) / windows.length, "importance of the tied classifier: window " + (s + 1) + "/" + windows.length);
        }
    }

    /** A tensor's per-column mean x^2, null when calibration never ran it. */
    public float[] of(String tensor) {
        Sums s = byTensor.get(tensor);
        if (s == null || s.tokens == 0) return null;
        float[] out = new float[s.sq.length];
        for (int j = 0; j < out.length; j++) out[j] = (float) (s.sq[j] / s.tokens);
        return out;
    }

    /** Quantizes {@code w} to {@code type} weighting columns by {@code importance} (null: plainly), as ggml does. */
    public static Tensor quantize(Tensor w, TensorType type, float[] importance) {
        if (importance != null && importance.length != w.cols()) {
            throw new IllegalArgumentException(w.name() + ": importance of " + importance.length + " columns for rows of " + w.cols());
        }
        return TensorCodecs.quantize(w.name(), w.shape(), w.toFloats(), type, importance);
    }
}
