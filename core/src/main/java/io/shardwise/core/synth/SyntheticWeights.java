package io.shardwise.core.synth;

import java.util.SplittableRandom;

/**
 * Seeded random weights, row by row: row {@code r} of a tensor depends only on (seed, tensor name, r), so rows
 * can be made in any order, chunk by chunk, and the same seed always gives the same model. Matrices are
 * uniform with standard deviation 1/sqrt(row length) (activations keep their scale through the layers);
 * norm weights are 1 +- 0.1.
 */
public final class SyntheticWeights {
    private static final double SQRT3 = Math.sqrt(3);
    private final long seed;

    public SyntheticWeights(long seed) {
        this.seed = seed;
    }

    /** Fills {@code rows} rows of length {@code cols} of tensor {@code name}, starting at row {@code firstRow}, into {@code dst}. */
    public void fill(String name, boolean norm, long firstRow, int rows, int cols, float[] dst) {
        long nameSeed = seed * 0x9E3779B97F4A7C15L + name.hashCode();
        double half = norm ? 0.1 : SQRT3 / Math.sqrt(cols);
        double center = norm ? 1 : 0;
        for (int r = 0; r < rows; r++) {
            SplittableRandom rng = new SplittableRandom(nameSeed ^ ((firstRow + r) * 0xBF58476D1CE4E5B9L));
            int base = r * cols;
            for (int j = 0; j < cols; j += 2) {
                long bits = rng.nextLong();
                // two 24-bit uniforms per draw: cheap enough for billions of weights
                dst[base + j] = (float) (center + half * (((bits >>> 40) * 0x1p-23) - 1));
                if (j + 1 < cols) dst[base + j + 1] = (float) (center + half * ((((bits >>> 8) & 0xFFFFFF) * 0x1p-23) - 1));
            }
        }
    }
}
