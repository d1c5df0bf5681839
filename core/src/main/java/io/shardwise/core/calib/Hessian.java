package io.shardwise.core.calib;

import org.ejml.data.DGrowArray;
import org.ejml.data.DMatrixRBlock;
import org.ejml.data.DMatrixRMaj;
import org.ejml.data.DSubmatrixD1;
import org.ejml.dense.block.MatrixOps_DDRB;
import org.ejml.dense.block.TriangularSolver_DDRB;
import org.ejml.dense.block.decomposition.chol.CholeskyOuterForm_DDRB;
import pabeles.concurrency.GrowArray;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * The layer Hessian of GPTQ and SparseGPT, H = 2/N sum_t x_t x_t^T (Frantar et al., section 3: the Hessian of ||WX - QX||^2), summed
 * over calibration inputs as they stream past. Each call adds a chunk of T tokens: the upper triangle in strips of
 * columns, register tiles of rows x columns summed in float over the chunk's tokens, then into a double sum.
 */
public final class Hessian {
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private final int n;
    private final double[] sum;
    private final int threads;
    private final boolean vector;
    private long tokens;

    public Hessian(int n) {
        this(n, 1, true);
    }

    /** {@code vector} false uses the scalar twin of the row kernel (tests, and to compare them). */
    public Hessian(int n, int threads, boolean vector) {
        if (n < 1) throw new IllegalArgumentException("hessian: width " + n + " must be positive");
        if (threads < 1) throw new IllegalArgumentException("hessian: threads " + threads + " must be positive");
        this.n = n;
        this.sum = new double[Math.multiplyExact(n, n)];
        this.threads = threads;
        this.vector = vector;
    }

    public int width() {
        return n;
    }

    public long tokens() {
        return tokens;
    }

    /** Adds T rows of n floats at {@code x[off + t*n + j]}. */
    public synchronized void add(float[] x, int off, int T, int width) {
        if (width != n) throw new IllegalArgumentException("hessian: input width " + width + " != " + n);
        if (T == 0) return;
        // x^T, so that the coefficients x[0..T)[i] of row i lie side by side
        float[] xt = new float[n * T];
        for (int t = 0; t < T; t++) for (int j = 0; j < n; j++) xt[j * T + t] = x[off + t * n + j];
        int strips = (n + STRIP - 1) / STRIP;
        // strip s holds columns [s * STRIP, ..) of rows 0 .. its last column: the work grows with s, so many small chunks
        parallel(threads, threads * 16, strips, (lo, hi) -> {
            float[] tile = new float[ROWS * STRIP], strip = vector ? new float[T * STRIP] : null;
            for (int s = lo; s < hi; s++) {
                if (vector) stripVector(x, off, T, n, xt, s * STRIP, strip, tile, sum);
                else stripScalar(x, off, T, n, xt, s * STRIP, sum);
            }
        });
        tokens += T;
    }

    /** Rows per register tile (broadcast coefficients) and columns per strip (two vectors of the preferred species). */
    static final int ROWS = 4, STRIP = 2 * FS.length();

    /**
     * sum[i][j] += sum_t x[t][i] * x[t][j] for columns j in [j0, j0 + STRIP) and rows i <= j: tiles of ROWS rows x
     * STRIP columns held in registers over all T tokens (each x load feeds ROWS fused multiply-adds, token order per
     * element, from 0f); a strip that the lanes do not fill, and the last rows, go to the scalar twin's loop.
     */
    static void stripVector(float[] x, int off, int T, int n, float[] xt, int j0, float[] strip, float[] tile, double[] sum) {
        if (j0 + STRIP > n) {
            stripScalar(x, off, T, n, xt, j0, sum);
            return;
        }
        // packed: at a power-of-two width the strip's rows, n floats apart, would all fall in the same cache sets
        for (int t = 0; t < T; t++) System.arraycopy(x, off + t * n + j0, strip, t * STRIP, STRIP);
        int L = FS.length(), rowEnd = j0 + STRIP; // rows past the strip's last column are below the diagonal
        int i0 = 0;
        for (; i0 + ROWS <= rowEnd; i0 += ROWS) {
            FloatVector a00 = FloatVector.zero(FS), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            int c0 = i0 * T, c1 = c0 + T, c2 = c1 + T, c3 = c2 + T;
            for (int t = 0, r = 0; t < T; t++, r += STRIP) {
                FloatVector x0 = FloatVector.fromArray(FS, strip, r), x1 = FloatVector.fromArray(FS, strip, r + L);
                FloatVector b = FloatVector.broadcast(FS, xt[c0 + t]);
                a00 = x0.fma(b, a00);
                a01 = x1.fma(b, a01);
                b = FloatVector.broadcast(FS, xt[c1 + t]);
                a10 = x0.fma(b, a10);
                a11 = x1.fma(b, a11);
                b = FloatVector.broadcast(FS, xt[c2 + t]);
                a20 = x0.fma(b, a20);
                a21 = x1.fma(b, a21);
                b = FloatVector.broadcast(FS, xt[c3 + t]);
                a30 = x0.fma(b, a30);
                a31 = x1.fma(b, a31);
            }
            a00.intoArray(tile, 0);
            a01.intoArray(tile, L);
            a10.intoArray(tile, STRIP);
            a11.intoArray(tile, STRIP + L);
            a20.intoArray(tile, 2 * STRIP);
            a21.intoArray(tile, 2 * STRIP + L);
            a30.intoArray(tile, 3 * STRIP);
            a31.intoArray(tile, 3 * STRIP + L);
            for (int k = 0; k < ROWS; k++) {
                int i = i0 + k, base = i * n;
                for (int c = Math.max(0, i - j0); c < STRIP; c++) sum[base + j0 + c] += tile[k * STRIP + c];
            }
        }
        rowsScalar(x, off, T, n, xt, j0, rowEnd, i0, rowEnd, sum);
    }

    /** The scalar twin of {@link #stripVector}: each element's fused multiply-adds from 0f in token order, so the same bits. */
    static void stripScalar(float[] x, int off, int T, int n, float[] xt, int j0, double[] sum) {
        int j1 = Math.min(n, j0 + STRIP);
        rowsScalar(x, off, T, n, xt, j0, j1, 0, j1, sum);
    }

    /** sum[i][j] += sum_t x[t][i] * x[t][j] for rows [i0, i1) and columns max(i, j0) .. j1. */
    private static void rowsScalar(float[] x, int off, int T, int n, float[] xt, int j0, int j1, int i0, int i1, double[] sum) {
        for (int i = i0; i < i1; i++) {
            int c = i * T;
            for (int j = Math.max(i, j0); j < j1; j++) {
                float s = 0f;
                for (int t = 0, r = off + j; t < T; t++, r += n) s = Math.fma(x[r], xt[c + t], s);
                sum[i * n + j] += s;
            }
        }
    }

    /** H = 2/N X^T X as a full symmetric row-major n x n matrix (a fresh copy: GPTQ damps it in place). */
    public synchronized double[] matrix() {
        if (tokens == 0) throw new IllegalStateException("hessian: no calibration inputs were seen");
        double[] h = new double[sum.length];
        double f = 2.0 / tokens;
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                double v = sum[i * n + j] * f;
                h[i * n + j] = v;
                h[j * n + i] = v;
            }
        }
        return h;
    }

    /** U with U^T U = (H + damp * mean(diag H) I)^-1, and the damping that made it positive definite. */
    public record InverseFactor(double[] upper, double dampUsed) {
    }

    /**
     * The upper Cholesky factor of the damped inverse Hessian that GPTQ and SparseGPT walk (one EJML blocked Cholesky
     * and triangular inverse), retrying with tenfold damping {@code retries} times; throws naming the tensor and the dampings.
     */
    public static InverseFactor upperCholeskyOfInverse(String name, double[] h, int n, double damp, int retries) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i];
        mean /= n;
        StringBuilder tried = new StringBuilder();
        double d = damp;
        for (int attempt = 0; attempt <= retries; attempt++, d *= 10) {
            double[] a = h.clone();
            for (int i = 0; i < n; i++) a[i * n + i] += d * mean;
            double[] u = tryUpperCholeskyOfInverse(a, n);
            if (u != null) return new InverseFactor(u, d);
            tried.append(attempt == 0 ? "" : ", ").append((float) d);
        }
        throw new IllegalStateException(name + ": Hessian is not positive definite after dampening (damp tried " + tried
                + " x mean diag " + (float) mean + "); the calibration inputs of this layer may be degenerate");
    }

    /**
     * With J the reversal, J A J = L L^T (lower) gives A = R R^T for the upper R = J L J, so A^-1 = U^T U with the upper
     * U = R^-1 = J L^-1 J: one blocked Cholesky and one blocked triangular inverse (n^3 / 3 each) instead of a Cholesky,
     * a full inverse and a second Cholesky (about 2.5x the work).
     */
    private static double[] tryUpperCholeskyOfInverse(double[] a, int n) {
        double[] rev = new double[a.length];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) rev[i * n + j] = a[(n - 1 - i) * n + (n - 1 - j)];
        DMatrixRBlock b = MatrixOps_DDRB.convert(DMatrixRMaj.wrap(n, n, rev));
        if (!new CholeskyOuterForm_DDRB(true).decompose(b)) return null;
        TriangularSolver_DDRB.invert(b.blockLength, false, new DSubmatrixD1(b), new GrowArray<>(DGrowArray::new));
        double[] inv = MatrixOps_DDRB.convert(b, new DMatrixRMaj(n, n)).data, u = new double[a.length];
        for (int i = 0; i < n; i++) for (int j = i; j < n; j++) u[i * n + j] = inv[(n - 1 - i) * n + (n - 1 - j)];
        for (int i = 0; i < n; i++) if (!(u[i * n + i] > 0) || Double.isInfinite(u[i * n + i])) return null;
        return u;
    }

    /** Runs body(lo, hi) over [0, n) cut in {@code chunks} ranges on {@code threads} threads. */
    public static void parallel(int threads, int chunks, int n, java.util.function.BiConsumer<Integer, Integer> body) {
        if (threads <= 1 || n < 2) {
            body.accept(0, n);
            return;
        }
        chunks = Math.min(n, chunks);
        int step = (n + chunks - 1) / chunks;
        ForkJoinPool pool = new ForkJoinPool(threads);
        try {
            pool.submit(() -> IntStream.range(0, (n + step - 1) / step).parallel()
                    .forEach(c -> body.accept(c * step, Math.min(n, (c + 1) * step)))).join();
        } finally {
            pool.shutdown();
        }
    }
}
