package io.shardwise.quantizer;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Activation-aware Weight Quantization (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM Compression
 * and Acceleration", eq. 4-5): per input channel scales s = s_X^alpha (s_X = mean |x| per channel), with
 * alpha* = argmin_alpha ||Q(W diag(s)) (diag(s)^-1 X) - W X|| over a grid of alphas in [0, 1], searched for each group of
 * linears that share an input and folded exactly into what precedes it (a norm: /= s; a linear: rows /= s), so the float
 * model is unchanged. Then, as AutoAWQ does, a clipping search per quantization group (range shrunk by 1.0..0.5, the ratio
 * with the least output error of that group kept; not for q/k, whose error the attention softmax reshapes). The error
 * ||dW X^T||^2 = sum_r d_r G d_r^T is measured through the Gram matrix G = X^T X of a calibration token subsample.
 */
public final class Awq {
    /** {@code nGrid} alphas i/(nGrid-1) (alpha 0 is plain round-to-nearest, so the search never does worse on X). */
    public record Options(int nGrid, boolean clip) {
        public Options {
            if (nGrid < 1) throw new IllegalArgumentException("n_grid must be >= 1, got " + nGrid);
        }
    }

    /** Linears sharing one input, and the norm vector or linear whose output is that input (it takes 1/s). */
    public record Group(List<String> linears, String prev) {
    }

    /** A matrix at work: {@code rows} x {@code in} floats, row-major, and the type it will be quantized to. */
    public record Matrix(String name, int in, int rows, float[] w, TensorType type) {
    }

    /** Clip ratios 1.0, 0.95, ..., 0.5. */
    static final int CLIP_STEPS = 10;

    private Awq() {
    }

    /** Block {@code l}'s groups; v -> o only when v's rows are o's input (no GQA), and v has no bias to scale. */
    public static List<Group> blockGroups(int l, LlamaConfig c) {
        List<Group> g = new ArrayList<>();
        g.add(new Group(List.of(TensorNames.attnQ(l), TensorNames.attnK(l), TensorNames.attnV(l)), TensorNames.attnNorm(l)));
        if (c.nHeads() == c.nKvHeads() && !c.attentionBias()) g.add(new Group(List.of(TensorNames.attnOutput(l)), TensorNames.attnV(l)));
        g.add(new Group(List.of(TensorNames.ffnGate(l), TensorNames.ffnUp(l)), TensorNames.ffnNorm(l)));
        g.add(new Group(List.of(TensorNames.ffnDown(l)), TensorNames.ffnUp(l)));
        return g;
    }

    /** The head's group: the classifier after the output norm. */
    public static List<Group> headGroups() {
        return List.of(new Group(List.of(TensorNames.OUTPUT), TensorNames.OUTPUT_NORM));
    }

    /** What a run chose: alpha* per scaled group (by its first linear), the mean clip ratio per clipped matrix. */
    public record Report(Map<String, Double> alphas, Map<String, Double> clips) {
    }

    /**
     * Searches every group's scales on the unscaled weights and inputs, folds them all (as AutoAWQ applies them), then
     * clips every calibrated matrix but q/k, in place in {@code mats} and {@code norms}. A group is scaled only when all
     * its linears and what precedes it are here (not ignored) and calibration saw its input.
     */
    public static Report run(Map<String, Matrix> mats, Map<String, float[]> norms, List<Group> groups, AwqStats stats, Options o) {
        Map<String, Double> alphas = new LinkedHashMap<>(), clips = new LinkedHashMap<>();
        List<Group> scaled = new ArrayList<>();
        List<float[]> scales = new ArrayList<>();
        for (Group g : groups) {
            AwqStats.Input x = stats.of(g.linears().getFirst());
            if (x == null || !g.linears().stream().allMatch(mats::containsKey)) continue;
            int in = mats.get(g.linears().getFirst()).in();
            int prevLength = norms.containsKey(g.prev()) ? norms.get(g.prev()).length : mats.containsKey(g.prev()) ? mats.get(g.prev()).rows() : -1;
            if (prevLength != in) continue;
            double[] alpha = new double[1];
            scales.add(searchScale(g.linears().stream().map(mats::get).toList(), x, o.nGrid(), alpha));
            scaled.add(g);
            alphas.put(g.linears().getFirst(), alpha[0]);
        }
        for (int i = 0; i < scaled.size(); i++) {
            fold(scaled.get(i), scales.get(i), mats, norms);
            stats.of(scaled.get(i).linears().getFirst()).divide(scales.get(i));
        }
        if (o.clip()) {
            for (Matrix m : mats.values()) {
                AwqStats.Input x = stats.of(m.name());
                if (x == null || m.name().endsWith("attn_q.weight") || m.name().endsWith("attn_k.weight")) continue;
                clips.put(m.name(), clip(m, x.gram()));
            }
        }
        return new Report(alphas, clips);
    }

    /** The best scales of a group on its (unscaled) input statistics; {@code alpha[0]} gets alpha*. */
    public static float[] searchScale(List<Matrix> ms, AwqStats.Input x, int nGrid, double[] alpha) {
        double[] mean = x.meanAbs();
        float[] best = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        for (int i = 0; i < nGrid; i++) {
            double a = nGrid == 1 ? 0 : (double) i / (nGrid - 1);
            float[] s = scales(mean, a);
            double loss = 0;
            for (Matrix m : ms) loss += scaledError(m, s, x.gram());
            if (loss < bestLoss) {
                bestLoss = loss;
                best = s;
                alpha[0] = a;
            }
        }
        return best;
    }

    /** s_j = max(mean_j^alpha, 1e-4), normalized by sqrt(max * min) as AutoAWQ does (keeps s around 1). */
    static float[] scales(double[] mean, double alpha) {
        float[] s = new float[mean.length];
        double lo = Double.POSITIVE_INFINITY, hi = 0;
        for (int j = 0; j < s.length; j++) {
            double v = Math.max(alpha == 0 ? 1 : Math.pow(mean[j], alpha), 1e-4);
            s[j] = (float) v;
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        double norm = Math.sqrt(hi * lo);
        for (int j = 0; j < s.length; j++) s[j] = (float) (s[j] / norm);
        return s;
    }

    /** ||(Q(W diag s) diag(s)^-1 - W) X^T||^2 through G. */
    static double scaledError(Matrix m, float[] s, double[] gram) {
        float[] ws = m.w().clone();
        for (int r = 0; r < m.rows(); r++) for (int j = 0; j < m.in(); j++) ws[r * m.in() + j] *= s[j];
        float[] q = fakeQuant(ws, m.in(), m.type());
        double[] d = new double[m.in()];
        double e = 0;
        for (int r = 0; r < m.rows(); r++) {
            int o = r * m.in();
            for (int j = 0; j < m.in(); j++) d[j] = (double) q[o + j] / s[j] - m.w()[o + j];
            e += quadratic(d, 0, m.in(), gram, m.in());
        }
        return e;
    }

    /** d[from, to) G[from, to)^2 d: the error of one slice of a row through the matching block of G. */
    static double quadratic(double[] d, int from, int to, double[] gram, int n) {
        double e = 0;
        for (int i = from; i < to; i++) {
            if (d[i] == 0) continue;
            double acc = 0;
            int row = i * n;
            for (int j = from; j < to; j++) acc += gram[row + j] * d[j];
            e += d[i] * acc;
        }
        return e;
    }

    /** Scales columns of the group's linears by s and divides {@code prev} (a norm, or the rows of a linear) by s. */
    public static void fold(Group g, float[] s, Map<String, Matrix> mats, Map<String, float[]> norms) {
        for (String name : g.linears()) {
            Matrix m = mats.get(name);
            for (int r = 0; r < m.rows(); r++) for (int j = 0; j < m.in(); j++) m.w()[r * m.in() + j] *= s[j];
        }
        float[] norm = norms.get(g.prev());
        if (norm != null) {
            for (int j = 0; j < s.length; j++) norm[j] /= s[j];
        } else {
            Matrix p = mats.get(g.prev());
            for (int r = 0; r < p.rows(); r++) for (int j = 0; j < p.in(); j++) p.w()[r * p.in() + j] /= s[r];
        }
    }

    /**
     * Clamps each quantization group of {@code m} (in place) to the shrink ratio with the least output error
     * d G_gg d^T; returns the mean ratio chosen. Types without groups to clip (floats) are left as they are.
     */
    public static double clip(Matrix m, double[] gram) {
        int gs = groupSize(m.type(), m.in());
        if (gs == 0) return 1;
        int groups = m.in() / gs, n = m.in();
        double[] best = new double[m.rows() * groups];
        double[] bestRatio = new double[best.length];
        java.util.Arrays.fill(best, Double.POSITIVE_INFINITY);
        double[] d = new double[n];
        for (int step = 0; step <= CLIP_STEPS; step++) {
            double ratio = 1 - 0.5 * step / CLIP_STEPS;
            float[] q = fakeQuant(clamped(m, gs, ratio, null), n, m.type());
            for (int r = 0; r < m.rows(); r++) {
                for (int j = 0; j < n; j++) d[j] = (double) q[r * n + j] - m.w()[r * n + j];
                for (int g = 0; g < groups; g++) {
                    double e = quadratic(d, g * gs, (g + 1) * gs, gram, n);
                    if (e < best[r * groups + g]) {
                        best[r * groups + g] = e;
                        bestRatio[r * groups + g] = ratio;
                    }
                }
            }
        }
        float[] c = clamped(m, gs, 1, bestRatio);
        System.arraycopy(c, 0, m.w(), 0, c.length);
        double sum = 0;
        for (double v : bestRatio) sum += v;
        return sum / bestRatio.length;
    }

    /** A copy of m's weights with each group clamped to its range times the ratio (per group when {@code ratios} is given). */
    private static float[] clamped(Matrix m, int gs, double ratio, double[] ratios) {
        boolean symmetric = symmetric(m.type());
        float[] out = m.w().clone();
        int groups = m.in() / gs;
        for (int r = 0; r < m.rows(); r++) {
            for (int g = 0; g < groups; g++) {
                int o = r * m.in() + g * gs;
                double k = ratios == null ? ratio : ratios[r * groups + g];
                float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
                for (int j = o; j < o + gs; j++) {
                    lo = Math.min(lo, out[j]);
                    hi = Math.max(hi, out[j]);
                }
                if (symmetric) hi = Math.max(-lo, hi);
                if (symmetric) lo = -hi;
                float l = (float) (lo * k), h = (float) (hi * k);
                for (int j = o; j < o + gs; j++) out[j] = Math.min(h, Math.max(l, out[j]));
            }
        }
        return out;
    }

    /** The elements one scale covers: a ggml block, a per-channel type's row; 0 for float types (nothing to clip). */
    static int groupSize(TensorType t, int rowLength) {
        if (t instanceof ChannelIntType) return rowLength;
        if (t instanceof GgmlType g && g.isQuantized()) return g.blockSize;
        return 0;
    }

    /** Grids with a zero point (Q4_1, Q5_1, per-channel asym) clip both ends by their own extremes; the others by absmax. */
    static boolean symmetric(TensorType t) {
        return !(t instanceof ChannelIntType) && t != GgmlType.Q4_1 && t != GgmlType.Q5_1;
    }

    /** Quantizes rows with the type's codec and back. */
    static float[] fakeQuant(float[] w, int rowLength, TensorType type) {
        TensorCodec c = TensorCodecs.codec(type);
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.toIntExact(type.byteSize(new long[]{rowLength, w.length / rowLength}))]);
        c.quantize(w, 0, w.length, rowLength, seg, 0);
        float[] out = new float[w.length];
        c.dequantize(seg, 0, w.length, rowLength, out, 0);
        return out;
    }
}
