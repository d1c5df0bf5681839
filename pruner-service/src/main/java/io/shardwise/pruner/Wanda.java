package io.shardwise.pruner;

/**
 * Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language Models", eq. 1):
 * S_ij = |W_ij| * ||X_j||_2, the weight's magnitude times the norm of its input feature over the calibration
 * tokens; weights are compared per output row (row i of W), the lowest-scoring {@code sparsity} fraction of each row
 * goes, or under N:M the M - N lowest of every M consecutive inputs. No weight update: survivors keep their values.
 */
public final class Wanda {
    private Wanda() {
    }

    /**
     * Prunes {@code w} (rows x cols, row-major) in place given {@code sumSquares[j] = sum_t x_tj^2} (||X_j||^2).
     * Unstructured: k = round(s * cols) per row.
     */
    public static MagnitudePruning.Result prune(float[] w, int rows, int cols, double[] sumSquares, MagnitudePruning.Pattern pattern) {
        if (w.length != (long) rows * cols) throw new IllegalArgumentException("wanda: " + w.length + " weights are not " + rows + " x " + cols);
        if (sumSquares.length != cols) throw new IllegalArgumentException("wanda: " + sumSquares.length + " input norms for " + cols + " columns");
        float[] norm = new float[cols];
        for (int j = 0; j < cols; j++) norm[j] = (float) Math.sqrt(sumSquares[j]);
        float[] score = new float[w.length];
        for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) score[r * cols + j] = Math.abs(w[r * cols + j]) * norm[j];
        boolean[] prune = new boolean[w.length];
        long denseTail = switch (pattern) {
            case MagnitudePruning.Unstructured u -> {
                NmSparsity.perRow(score, rows, cols, (int) Math.round(u.sparsity() * cols), prune);
                yield 0;
            }
            case MagnitudePruning.NOfM nm -> NmSparsity.nOfM(score, rows, cols, nm.n(), nm.m(), prune);
        };
        long zeros = 0;
        for (int i = 0; i < w.length; i++) {
            if (prune[i]) w[i] = 0f;
            if (w[i] == 0f) zeros++;
        }
        return new MagnitudePruning.Result(zeros, denseTail);
    }
}
