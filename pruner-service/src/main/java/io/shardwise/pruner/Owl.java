package io.shardwise.pruner;

/**
 * OWL (Yin et al. 2023, "Outlier Weighed Layerwise Sparsity (OWL): A Missing Secret Sauce for Pruning LLMs to High
 * Sparsity", section 4): a layer's outlier ratio D_l is the fraction of its Wanda scores |W_ij| * ||X_j|| above
 * {@code m} times the layer's mean score; layers with more outliers keep more weights. The ratios are scaled to
 * [0, 2 lambda], centred on the target density 1 - s, and each layer's sparsity is one minus its density, so the
 * sparsities lie in [s - lambda, s + lambda] and average to s.
 */
public final class Owl {
    private Owl() {
    }

    /** Running count of the scores of one layer: first their sum (for the mean), then those above m x mean. */
    public static final class Ratio {
        private double sum;
        private long count, outliers;
        private double threshold = Double.NaN;

        public void addToMean(float[] w, int rows, int cols, double[] sumSquares) {
            for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) sum += Math.abs(w[r * cols + j]) * Math.sqrt(sumSquares[j]);
            count += (long) rows * cols;
        }

        /** Fixes the threshold m x mean; call after every {@link #addToMean}. */
        public void mean(double m) {
            threshold = count == 0 ? 0 : m * sum / count;
        }

        public void countOutliers(float[] w, int rows, int cols, double[] sumSquares) {
            if (Double.isNaN(threshold)) throw new IllegalStateException("owl: mean() before countOutliers()");
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < cols; j++) if (Math.abs(w[r * cols + j]) * Math.sqrt(sumSquares[j]) > threshold) outliers++;
            }
        }

        public double ratio() {
            return count == 0 ? 0 : (double) outliers / count;
        }
    }

    /** Layer sparsities for outlier ratios {@code d}, target sparsity {@code s} and spread {@code lambda} (clamped to [0, 0.99]). */
    public static double[] sparsities(double[] d, double s, double lambda) {
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (double v : d) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        double[] out = new double[d.length];
        if (!(max > min)) { // no outlier contrast between layers: uniform
            java.util.Arrays.fill(out, s);
            return out;
        }
        double mean = 0;
        double[] scaled = new double[d.length];
        for (int i = 0; i < d.length; i++) {
            scaled[i] = (d[i] - min) / (max - min) * 2 * lambda;
            mean += scaled[i] / d.length;
        }
        for (int i = 0; i < d.length; i++) out[i] = Math.max(0, Math.min(0.99, 1 - (scaled[i] - mean + (1 - s))));
        return out;
    }
}
