package io.shardwise.pruner;

import java.util.Arrays;

/**
 * Magnitude pruning (Han et al. 2015, "Learning both Weights and Connections for Efficient Neural Networks"):
 * weights of smallest |w| are set to zero. Unstructured: in each matrix the k = round(s * n) smallest |w| go.
 * N:M semi-structured (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", NVIDIA's 2:4): in every
 * group of M consecutive weights along a row (the input dimension) the N largest |w| are kept and the other
 * M - N are zeroed, so "2:4" leaves exactly 2 of every 4 weights non-zero.
 */
public final class MagnitudePruning {

    /** What to prune: a sparsity per matrix, or an N:M pattern. */
    public sealed interface Pattern permits Unstructured, NOfM {
    }

    /** Zero the {@code sparsity} fraction of smallest-magnitude weights of each matrix. */
    public record Unstructured(double sparsity) implements Pattern {
        public Unstructured {
            if (!(sparsity >= 0 && sparsity < 1)) throw new IllegalArgumentException("sparsity must be in [0, 1), got " + sparsity);
        }
    }

    /** Keep {@code n} of every {@code m} consecutive weights of a row. */
    public record NOfM(int n, int m) implements Pattern {
        public NOfM {
            if (n < 1 || m < 2 || n >= m || m > 64) throw new IllegalArgumentException("N:M needs 1 <= N < M <= 64, got " + n + ":" + m);
        }

        @Override
        public String toString() {
            return n + ":" + m;
        }
    }

    /** Zeros written, and for N:M the weights left dense at the end of rows that are not a multiple of M. */
    public record Result(long zeros, long denseTail) {
    }

    private MagnitudePruning() {
    }

    /** Parses a recipe's {@code pattern} ("unstructured" or "N:M"); {@code sparsity} applies to unstructured only. */
    public static Pattern parse(String pattern, double sparsity) {
        String p = pattern.trim();
        if (p.equalsIgnoreCase("unstructured")) return new Unstructured(sparsity);
        int colon = p.indexOf(':');
        if (colon > 0) {
            try {
                return new NOfM(Integer.parseInt(p.substring(0, colon).trim()), Integer.parseInt(p.substring(colon + 1).trim()));
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
        }
        throw new IllegalArgumentException("pattern '" + pattern + "' is neither 'unstructured' nor N:M such as '2:4'");
    }

    /** Prunes {@code w} (rows of {@code rowLength}) in place. */
    public static Result prune(float[] w, int rowLength, Pattern pattern) {
        if (rowLength <= 0 || w.length % rowLength != 0) throw new IllegalArgumentException(w.length + " weights are not whole rows of " + rowLength);
        return switch (pattern) {
            case Unstructured u -> new Result(unstructured(w, u.sparsity()), 0);
            case NOfM nm -> nOfM(w, rowLength, nm);
        };
    }

    private static long unstructured(float[] w, double sparsity) {
        int k = (int) Math.round(sparsity * w.length);
        if (k > 0) {
            float[] mags = new float[w.length];
            for (int i = 0; i < w.length; i++) mags[i] = Math.abs(w[i]);
            Arrays.sort(mags);
            float threshold = mags[k - 1];
            int below = 0;
            for (float m : mags) if (m < threshold) below++;
            int tiesToZero = k - below; // weights equal to the threshold: the first ones by index go
            for (int i = 0; i < w.length; i++) {
                float m = Math.abs(w[i]);
                if (m < threshold) {
                    w[i] = 0f;
                } else if (m == threshold && tiesToZero > 0) {
                    w[i] = 0f;
                    tiesToZero--;
                }
            }
        }
        return countZeros(w);
    }

    private static Result nOfM(float[] w, int rowLength, NOfM p) {
        int groups = rowLength / p.m();
        int drop = p.m() - p.n();
        boolean[] gone = new boolean[p.m()];
        for (int row = 0; row < w.length / rowLength; row++) {
            for (int g = 0; g < groups; g++) {
                int base = row * rowLength + g * p.m();
                Arrays.fill(gone, false);
                for (int d = 0; d < drop; d++) {
                    int min = -1;
                    for (int j = 0; j < p.m(); j++) {
                        if (!gone[j] && (min < 0 || Math.abs(w[base + j]) < Math.abs(w[base + min]))) min = j;
                    }
                    gone[min] = true;
                    w[base + min] = 0f;
                }
            }
        }
        long denseTail = (long) (rowLength % p.m()) * (w.length / rowLength);
        return new Result(countZeros(w), denseTail);
    }

    private static long countZeros(float[] w) {
        long z = 0;
        for (float v : w) if (v == 0f) z++;
        return z;
    }
}
