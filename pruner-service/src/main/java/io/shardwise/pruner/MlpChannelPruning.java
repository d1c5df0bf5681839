package io.shardwise.pruner;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * Structured MLP channel pruning as in LLM-Pruner (Ma et al. 2023, "LLM-Pruner: On the Structural Pruning of Large
 * Language Models", the FFN channel group: row j of w1/w3 and column j of w2 go together), scored by activation norm
 * instead of the paper's first-order Taylor term (its eq. 3): channel j's importance is the Wanda product (Sun et al.
 * 2023, eq. 1) over the whole group, ||X_j||_2 * ||W_down[:, j]||_2, X_j the channel's value silu(gate(x)) * up(x)
 * over the calibration tokens. The lowest-scoring channels go; the rest keep their order.
 */
public final class MlpChannelPruning {
    private MlpChannelPruning() {
    }

    /** How many of {@code hidden} channels {@code ratio} removes (rounded); refuses a ratio outside [0, 1) or one that removes all. */
    public static int removedCount(double ratio, int hidden) {
        return removedCount(ratio, hidden, 1);
    }

    /**
     * As {@link #removedCount(double, int)}, then more removed until the kept count is a multiple of {@code multipleOf}
     * (e.g. 32, so ffn_down's rows fit the quantization blocks of a later stage).
     */
    public static int removedCount(double ratio, int hidden, int multipleOf) {
        if (!(ratio >= 0 && ratio < 1)) throw new IllegalArgumentException("params.ratio " + ratio + " is outside [0, 1)");
        if (multipleOf < 1) throw new IllegalArgumentException("params.multiple_of " + multipleOf + " is below 1");
        int kept = (hidden - (int) Math.round(ratio * hidden)) / multipleOf * multipleOf;
        if (kept <= 0) {
            throw new IllegalArgumentException("params.ratio " + ratio + (multipleOf > 1 ? " with params.multiple_of " + multipleOf : "")
                    + " removes all " + hidden + " MLP channels of a layer");
        }
        return hidden - kept;
    }

    /** Score of each channel: sqrt(sumSquares[j]) * the L2 norm of column j of {@code down} (rows x hidden, row-major). */
    public static double[] scores(double[] sumSquares, float[] down, int rows, int hidden) {
        if (sumSquares.length != hidden) throw new IllegalArgumentException("channel statistics have " + sumSquares.length + " channels, ffn_down has " + hidden);
        double[] col = new double[hidden];
        for (int r = 0; r < rows; r++) {
            int base = r * hidden;
            for (int j = 0; j < hidden; j++) col[j] += (double) down[base + j] * down[base + j];
        }
        double[] s = new double[hidden];
        for (int j = 0; j < hidden; j++) s[j] = Math.sqrt(sumSquares[j]) * Math.sqrt(col[j]);
        return s;
    }

    /** The channels kept: all but the {@code removed} lowest scores (ties to the higher index), ascending. */
    public static int[] keep(double[] scores, int removed) {
        int n = scores.length;
        if (removed < 0 || removed >= n) throw new IllegalArgumentException("cannot remove " + removed + " of " + n + " channels");
        Integer[] order = IntStream.range(0, n).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingDouble(j -> scores[j]).thenComparing(j -> -j));
        int[] kept = new int[n - removed];
        for (int i = removed; i < n; i++) kept[i - removed] = order[i];
        Arrays.sort(kept);
        return kept;
    }

    /** Columns {@code kept} of a rows x cols row-major matrix, as a rows x kept.length matrix. */
    public static float[] selectColumns(float[] w, int rows, int cols, int[] kept) {
        float[] out = new float[rows * kept.length];
        for (int r = 0; r < rows; r++) {
            int base = r * cols, o = r * kept.length;
            for (int i = 0; i < kept.length; i++) out[o + i] = w[base + kept[i]];
        }
        return out;
    }

    /** The same matrix with every column not in {@code kept} zero (what the smaller model computes, at the old shape). */
    public static float[] zeroOtherColumns(float[] w, int rows, int cols, int[] kept) {
        boolean[] keep = new boolean[cols];
        for (int j : kept) keep[j] = true;
        float[] out = w.clone();
        for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) if (!keep[j]) out[r * cols + j] = 0;
        return out;
    }
}
