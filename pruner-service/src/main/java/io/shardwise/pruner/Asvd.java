package io.shardwise.pruner;

/**
 * ASVD (Yuan et al. 2023, "ASVD: Activation-aware Singular Value Decomposition for Compressing Large Language
 * Models", eq. 4-6): the input channels of W are scaled by S = diag(s_j), s_j = (mean_t |x_tj|)^alpha, before the
 * truncation, W = (W S) S^{-1} ~ U_r Sigma_r V_r^T S^{-1}, so channels that carry large activations (whose weight
 * errors cost the most output error) are kept more faithfully. A = Sigma_r^{1/2} V_r^T S^{-1}, B = U_r Sigma_r^{1/2}.
 */
public final class Asvd {
    /** The paper's default exponent. */
    public static final double DEFAULT_ALPHA = 0.5;
    /** Channels whose mean |x| is below this fraction of the largest are floored there, so S^{-1} stays bounded. */
    static final double FLOOR = 1e-6;

    private Asvd() {
    }

    /** The scales s_j = meanAbs_j^alpha (floored), normalized to a geometric mean of 1. */
    public static double[] scales(double[] meanAbs, double alpha) {
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("alpha " + alpha + " is outside [0, 1]");
        double max = 0;
        for (double m : meanAbs) {
            if (!(m >= 0) || !Double.isFinite(m)) throw new IllegalArgumentException("mean |x| " + m + " is not a finite non-negative number");
            max = Math.max(max, m);
        }
        double[] s = new double[meanAbs.length];
        if (max == 0) {
            java.util.Arrays.fill(s, 1);
            return s;
        }
        double logSum = 0;
        for (int j = 0; j < s.length; j++) {
            s[j] = Math.pow(Math.max(meanAbs[j], FLOOR * max), alpha);
            logSum += Math.log(s[j]);
        }
        double g = Math.exp(logSum / s.length);
        for (int j = 0; j < s.length; j++) s[j] /= g;
        return s;
    }

    /** The factors of the alpha that gave the smallest output error on the sampled inputs, and that alpha. */
    public record Searched(LowRankFactors factors, double alpha, double outputError) {
    }

    /**
     * A grid search over {@code alphas} (the paper fixes alpha; 0 is plain SVD): the factors whose output error
     * sum_t ||(W - B A) x_t||^2 over the {@code T} sampled inputs {@code x} (T x in, row-major) is the smallest.
     */
    public static Searched search(float[] w, int out, int in, double[] meanAbs, double[] alphas, RankSelection rule, float[] x, int T) {
        if (alphas.length == 0) throw new IllegalArgumentException("no alpha to search");
        if (x.length != T * in) throw new IllegalArgumentException(x.length + " sampled values are not " + T + " inputs of " + in);
        Searched best = null;
        for (double alpha : alphas) {
            LowRankFactors f = factorize(w, out, in, meanAbs, alpha, rule);
            double e = outputError(w, f, x, T);
            if (best == null || e < best.outputError()) best = new Searched(f, alpha, e);
        }
        return best;
    }

    /** sum_t ||W x_t - B (A x_t)||^2 over the T inputs x (T x in, row-major). */
    public static double outputError(float[] w, LowRankFactors f, float[] x, int T) {
        int in = f.in(), out = f.out(), r = f.rank();
        float[] a = f.a(), b = f.b();
        double[] ax = new double[r];
        double e = 0;
        for (int t = 0; t < T; t++) {
            int xo = t * in;
            for (int k = 0; k < r; k++) {
                double s = 0;
                for (int i = 0; i < in; i++) s += (double) a[k * in + i] * x[xo + i];
                ax[k] = s;
            }
            for (int o = 0; o < out; o++) {
                double d = 0;
                for (int i = 0; i < in; i++) d += (double) w[o * in + i] * x[xo + i];
                for (int k = 0; k < r; k++) d -= b[o * r + k] * ax[k];
                e += d * d;
            }
        }
        return e;
    }

    /** Factors of W (out x in, row-major) given the mean |x| of each of its in input channels. */
    public static LowRankFactors factorize(float[] w, int out, int in, double[] meanAbs, double alpha, RankSelection rule) {
        if (meanAbs.length != in) throw new IllegalArgumentException(meanAbs.length + " channel statistics for a layer of " + in + " inputs");
        double[] s = scales(meanAbs, alpha);
        double[] ws = new double[out * in];
        for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) ws[o * in + i] = w[o * in + i] * s[i];
        TruncatedSvd.Spectrum spectrum = TruncatedSvd.decompose(ws, out, in);
        LowRankFactors f = spectrum.truncate(Math.min(rule.rank(spectrum.sigma(), in, out), spectrum.k()));
        float[] a = f.a();
        for (int r = 0; r < f.rank(); r++) for (int i = 0; i < in; i++) a[r * in + i] = (float) (a[r * in + i] / s[i]);
        return f;
    }
}
