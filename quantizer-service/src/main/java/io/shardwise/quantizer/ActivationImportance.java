package io.shardwise.quantizer;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The importance of every weight of a model from one pass over calibration windows (llama.cpp's imatrix): for each
 * linear layer the per-column mean x^2 of its input (the head's on the final-normed states), and for the token
 * embedding how often each token is looked up (its rows' share of the calibration tokens).
 */
public final class ActivationImportance {
    private ActivationImportance() {
    }

    /** Importance per tensor name, and the calibration tokens seen. */
    public record Result(Map<String, QuantizationError.Importance> byTensor, long tokens) {
        public QuantizationError.Importance of(String tensor) {
            return byTensor.getOrDefault(tensor, QuantizationError.Importance.UNIFORM);
        }
    }

    public static Result collect(LlamaModel model, int[][] windows, ShardInput.Progress progress) {
        Map<String, double[]> sums = new HashMap<>();
        Map<String, Long> counts = new HashMap<>();
        LlamaRuntime.LinearObserver observer = (ws, x, off, T, n) -> {
            double[] s = new double[n];
            for (int t = 0; t < T; t++) {
                for (int j = 0, o = off + t * n; j < n; j++, o++) s[j] += (double) x[o] * x[o];
            }
            for (Linear w : ws) {
                double[] acc = sums.computeIfAbsent(w.name(), k -> new double[n]);
                for (int j = 0; j < n; j++) acc[j] += s[j];
                counts.merge(w.name(), (long) T, Long::sum);
            }
        };
        LlamaRuntime rt = new LlamaRuntime(model);
        int L = model.config().nLayers();
        Tensor classifier = model.classifier();
        long[] lookups = new long[model.config().vocabSize()];
        long tokens = 0;
        for (int s = 0; s < windows.length; s++) {
            int T = windows[s].length;
            LlamaRuntime.Session session = rt.newSession(T);
            session.observe(observer);
            float[] h = session.layers(session.embed(windows[s], 0, T), T, 0, L);
            float[] normed = session.outputNormed(h, T);
            observer.input(new Linear[]{new Linear(classifier.name(), classifier.type(), classifier.data(), classifier.cols(), classifier.rows())},
                    normed, 0, T, normed.length / T);
            for (int tok : windows[s]) lookups[tok]++;
            tokens += T;
            progress.report(0.5 * (s + 1) / windows.length, "importance: window " + (s + 1) + "/" + windows.length);
        }
        Map<String, QuantizationError.Importance> out = new LinkedHashMap<>();
        sums.forEach((name, acc) -> {
            float[] mean = new float[acc.length];
            long c = counts.get(name);
            for (int j = 0; j < acc.length; j++) mean[j] = (float) (acc[j] / c);
            out.put(name, new QuantizationError.Importance(mean, null));
        });
        float[] freq = new float[lookups.length];
        for (int v = 0; v < freq.length; v++) freq[v] = (float) ((double) lookups[v] / tokens);
        QuantizationError.Importance embd = out.get(TensorNames.TOKEN_EMBD); // tied classifier: both roles count
        out.put(TensorNames.TOKEN_EMBD, new QuantizationError.Importance(embd == null ? null : embd.cols(), freq));
        return new Result(out, tokens);
    }
}
