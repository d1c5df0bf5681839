package io.shardwise.pruner;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * Truncated SVD (Eckart and Young 1936, "The approximation of one matrix by another of lower rank"): the best
 * rank-r approximation of W in Frobenius norm is W_r = U_r Sigma_r V_r^T, with ||W - W_r||_F^2 = sum_{i>r} sigma_i^2.
 * The factors split Sigma evenly, A = Sigma_r^{1/2} V_r^T and B = U_r Sigma_r^{1/2}, so neither factor's scale
 * dominates when it is stored in a narrow type. EJML computes the decomposition in double precision.
 */
public final class TruncatedSvd {

    /** W = U diag(sigma) V^T, compact: u is out x k, vt is k x in (both row-major), k = min(out, in), sigma descending. */
    public record Spectrum(int out, int in, double[] u, double[] sigma, double[] vt) {
        public int k() {
            return sigma.length;
        }

        /** The factors of the leading {@code rank} directions. */
        public LowRankFactors truncate(int rank) {
            if (rank < 1 || rank > k()) throw new IllegalArgumentException("rank " + rank + " is outside [1, " + k() + "]");
            float[] a = new float[rank * in], b = new float[out * rank];
            for (int r = 0; r < rank; r++) {
                double s = Math.sqrt(sigma[r]);
                for (int i = 0; i < in; i++) a[r * in + i] = (float) (s * vt[r * in + i]);
                for (int o = 0; o < out; o++) b[o * rank + r] = (float) (s * u[o * k() + r]);
            }
            return new LowRankFactors(out, in, rank, a, b, sigma);
        }
    }

    private TruncatedSvd() {
    }

    /** The SVD of the out x in row-major matrix {@code w}. */
    public static Spectrum decompose(double[] w, int out, int in) {
        if (out < 1 || in < 1 || w.length != out * in) throw new IllegalArgumentException(w.length + " values are not a " + out + " x " + in + " matrix");
        for (double v : w) if (!Double.isFinite(v)) throw new IllegalArgumentException("the matrix holds a non-finite value (" + v + ")");
        DMatrixRMaj m = DMatrixRMaj.wrap(out, in, w.clone());
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(out, in, true, true, true);
        if (!svd.decompose(m)) throw new ArithmeticException("SVD of a " + out + " x " + in + " matrix did not converge");
        DMatrixRMaj u = svd.getU(null, false), vt = svd.getV(null, true), s = svd.getW(null);
        SingularOps_DDRM.descendingOrder(u, false, s, vt, true);
        int k = Math.min(out, in);
        double[] sigma = new double[k];
        for (int i = 0; i < k; i++) sigma[i] = s.get(i, i);
        return new Spectrum(out, in, compactColumns(u, out, k), sigma, compactRows(vt, k, in));
    }

    /** Factors of W (out x in, row-major) at the rank {@code rule} picks from W's spectrum. */
    public static LowRankFactors factorize(float[] w, int out, int in, RankSelection rule) {
        Spectrum s = decompose(toDouble(w), out, in);
        return s.truncate(Math.min(rule.rank(s.sigma(), in, out), s.k()));
    }

    static double[] toDouble(float[] w) {
        double[] d = new double[w.length];
        for (int i = 0; i < w.length; i++) d[i] = w[i];
        return d;
    }

    private static double[] compactColumns(DMatrixRMaj u, int rows, int k) {
        double[] out = new double[rows * k];
        for (int r = 0; r < rows; r++) for (int c = 0; c < k; c++) out[r * k + c] = u.get(r, c);
        return out;
    }

    private static double[] compactRows(DMatrixRMaj vt, int k, int cols) {
        double[] out = new double[k * cols];
        for (int r = 0; r < k; r++) for (int c = 0; c < cols; c++) out[r * cols + c] = vt.get(r, c);
        return out;
    }
}
