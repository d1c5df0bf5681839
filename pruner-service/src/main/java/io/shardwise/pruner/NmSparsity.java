package io.shardwise.pruner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Pruning masks from scores (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", N:M fine-grained
 * sparsity): N:M keeps the N highest-scoring weights of every M consecutive weights of a row (input dimension), for
 * any N < M; per row, the k lowest-scoring weights of a row (Wanda's per-output comparison group). Scores are
 * non-negative; ties go to the lower index, so a mask is a function of its scores.
 */
public final class NmSparsity {
    /** Largest M the recipe's {@code pattern} enumeration offers (the gateway checks patterns at submit against it). */
    public static final int MAX_M = 16;

    private NmSparsity() {
    }

    /** The values a recipe's {@code pattern} may take: "unstructured", then every N:M with 1 <= N < M <= {@link #MAX_M}. */
    public static List<String> allowedPatterns() {
        List<String> out = new ArrayList<>();
        out.add("unstructured");
        out.add("2:4");
        out.add("4:8");
        for (int m = 2; m <= MAX_M; m++) {
            for (int n = 1; n < m; n++) if (!(n == 2 && m == 4) && !(n == 4 && m == 8)) out.add(n + ":" + m);
        }
        return out;
    }

    /**
     * Marks {@code prune} for the {@code m - n} lowest scores of each full group of {@code m} along every row
     * (row-major, rows of {@code cols}); a ragged row tail stays unmarked. Returns the weights left dense in tails.
     */
    public static long nOfM(float[] score, int rows, int cols, int n, int m, boolean[] prune) {
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g + m <= cols; g += m) group(score, r * cols + g, 1, n, m, prune, r * cols + g);
        }
        return (long) (cols % m) * rows;
    }

    /** Marks the {@code m - n} lowest of score[off + i * stride], i < m, as prune[pOff + i * stride]. */
    static void group(float[] score, int off, int stride, int n, int m, boolean[] prune, int pOff) {
        for (int d = 0; d < m - n; d++) {
            int min = -1;
            for (int j = 0; j < m; j++) {
                if (!prune[pOff + j * stride] && (min < 0 || score[off + j * stride] < score[off + min * stride])) min = j;
            }
            prune[pOff + min * stride] = true;
        }
    }

    /** Marks {@code prune} for the {@code k} lowest scores of every row (row-major, rows of {@code cols}). */
    public static void perRow(float[] score, int rows, int cols, int k, boolean[] prune) {
        long[] keys = new long[cols];
        for (int r = 0; r < rows; r++) lowest(score, r * cols, cols, k, prune, keys);
    }

    /**
     * Marks the {@code k} lowest of score[off, off + len): scores as int bits (monotonic for non-negative floats)
     * above the index, one sort of longs.
     */
    public static void lowest(float[] score, int off, int len, int k, boolean[] prune, long[] keys) {
        if (k <= 0) return;
        for (int i = 0; i < len; i++) {
            float s = score[off + i];
            if (!(s >= 0)) throw new IllegalArgumentException("pruning scores must be non-negative numbers, got " + s + " at " + (off + i));
            keys[i] = ((long) Float.floatToRawIntBits(s + 0f) << 32) | i;
        }
        Arrays.sort(keys, 0, len);
        for (int i = 0; i < Math.min(k, len); i++) prune[off + (int) (keys[i] & 0xFFFFFFFFL)] = true;
    }

    /** True when every full group of {@code m} along each row holds at least {@code m - n} zeros. */
    public static boolean follows(float[] w, int rows, int cols, int n, int m) {
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g + m <= cols; g += m) {
                int zeros = 0;
                for (int j = 0; j < m; j++) if (w[r * cols + g + j] == 0f) zeros++;
                if (zeros < m - n) return false;
            }
        }
        return true;
    }
}
