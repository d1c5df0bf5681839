package io.shardwise.evaluator;

/** Size metrics of a model: parameters, non-zero parameters and tensor bytes (what a file of it holds, headers aside). */
public record SizeScores(long params, long nonzeroParams, long bytes) {

    /** Fraction of parameters (all tensors) that are exactly zero. */
    public double sparsity() {
        return params == 0 ? Double.NaN : 1.0 - (double) nonzeroParams / params;
    }

    /** Bits per weight: 8 * bytes / params. */
    public double bitsPerWeight() {
        return params == 0 ? Double.NaN : 8.0 * bytes / params;
    }
}
