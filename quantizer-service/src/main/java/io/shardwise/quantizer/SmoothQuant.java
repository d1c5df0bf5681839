package io.shardwise.quantizer;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * SmoothQuant (Xiao et al., "SmoothQuant: Accurate and Efficient Post-Training Quantization for LLMs", eq. 4):
 * per input channel j, s_j = max|X_j|^alpha / max|W_j|^(1-alpha), and Y = (X diag(s)^-1) (diag(s) W): activation
 * outliers migrate into the weights, so both quantize to int8 (W8A8: per-channel int8 weights, per-token int8
 * activations). The division is folded into the op before, so it costs nothing at run time: attn_norm (for q/k/v),
 * ffn_norm (gate/up), ffn_up's rows (for ffn_down, whose input silu(gate) * up is linear in up's output) and
 * output_norm (the head). attn_output stays unsmoothed, as in the paper's Llama recipe.
 */
public final class SmoothQuant {
    /** Linears that share one input, and the tensor whose elements (a norm) or rows (a matrix) make that input, divided by s. */
    record Group(String divisor, List<String> linears) {
    }

    private SmoothQuant() {
    }

    /** The groups of a shard's tensors; ffn_down first, since its divisor ffn_up is also smoothed as a linear after. */
    static List<Group> groups(Map<String, Tensor> shard) {
        int l = shard.keySet().stream().mapToInt(TensorNames::blockOf).filter(b -> b >= 0).findFirst().orElse(-1);
        if (l < 0) return List.of(new Group(TensorNames.OUTPUT_NORM, List.of(TensorNames.OUTPUT)));
        return List.of(new Group(TensorNames.ffnUp(l), List.of(TensorNames.ffnDown(l))),
                new Group(TensorNames.attnNorm(l), List.of(TensorNames.attnQ(l), TensorNames.attnK(l), TensorNames.attnV(l))),
                new Group(TensorNames.ffnNorm(l), List.of(TensorNames.ffnGate(l), TensorNames.ffnUp(l))));
    }

    /** max|x_j| of every linear's input over the calibration windows, by linear name (linears sharing an input share the array). */
    public static Map<String, float[]> inputMaxima(BlockCalibration cal) {
        Map<String, float[]> max = new HashMap<>();
        cal.observe((ws, x, off, T, n) -> {
            float[] m = max.computeIfAbsent(ws[0].name(), k -> new float[n]);
            for (int t = 0; t < T; t++) for (int j = 0; j < n; j++) m[j] = Math.max(m[j], Math.abs(x[off + t * n + j]));
            for (var w : ws) max.put(w.name(), m);
        });
        return max;
    }

    /** s_j for input maxima xMax and the group's weights (rows of n); 1 for a channel no calibration token reached. */
    static float[] scales(float[] xMax, List<float[]> weights, int n, double alpha) {
        float[] wMax = new float[n];
        for (float[] w : weights) for (int i = 0; i < w.length; i++) wMax[i % n] = Math.max(wMax[i % n], Math.abs(w[i]));
        float[] s = new float[n];
        for (int j = 0; j < n; j++) {
            s[j] = xMax[j] == 0 ? 1 : (float) Math.max(1e-5, Math.pow(xMax[j], alpha) / Math.pow(Math.max(wMax[j], 1e-5), 1 - alpha));
        }
        return s;
    }

    /**
     * The shard's smoothed tensors as F32: every divisor and linear of each group whose tensors and statistics are all
     * present; {@code alpha} gives the migration strength of a group by its first linear's name.
     */
    public static Map<String, Tensor> smooth(Map<String, Tensor> shard, Map<String, float[]> xMax, ToDoubleFunction<String> alpha) {
        Map<String, float[]> f = new HashMap<>();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Group g : groups(shard)) {
            List<String> names = new java.util.ArrayList<>(g.linears());
            names.add(g.divisor());
            if (!names.stream().allMatch(shard::containsKey) || !xMax.containsKey(g.linears().get(0))) continue;
            for (String name : names) f.computeIfAbsent(name, k -> shard.get(k).toFloats());
            int n = shard.get(g.linears().get(0)).cols();
            float[] s = scales(xMax.get(g.linears().get(0)), g.linears().stream().map(f::get).toList(), n, alpha.applyAsDouble(g.linears().get(0)));
            for (String w : g.linears()) {
                float[] v = f.get(w);
                for (int i = 0; i < v.length; i++) v[i] *= s[i % n];
            }
            float[] d = f.get(g.divisor());
            int row = d.length / n; // 1 for a norm, the row length for ffn_up
            for (int i = 0; i < d.length; i++) d[i] /= s[i / row];
            for (String name : names) out.put(name, Tensor.ofFloats(name, shard.get(name).shape(), f.get(name)));
        }
        return out;
    }
}
