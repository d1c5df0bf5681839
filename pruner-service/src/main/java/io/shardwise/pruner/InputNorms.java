package io.shardwise.pruner;

/** Wanda's activation statistic: sum_t x_tj^2 per input feature j of a linear layer, over calibration tokens. */
final class InputNorms {
    private final double[] sum;
    private long tokens;

    InputNorms(int n) {
        this.sum = new double[n];
    }

    /** Adds T rows of n floats at {@code x[off + t*n + j]}. */
    synchronized void add(float[] x, int off, int T, int n) {
        if (n != sum.length) throw new IllegalArgumentException("input norms: input width " + n + " != " + sum.length);
        for (int t = 0; t < T; t++) for (int j = 0; j < n; j++) sum[j] += (double) x[off + t * n + j] * x[off + t * n + j];
        tokens += T;
    }

    /** ||X_j||^2 per input feature (a copy). */
    synchronized double[] sumSquares() {
        if (tokens == 0) throw new IllegalStateException("input norms: no calibration inputs were seen");
        return sum.clone();
    }
}
