package io.shardwise.core.calib;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.dense.row.factory.LinearSolverFactory_DDRM;
import org.ejml.interfaces.decomposition.CholeskyDecomposition_F64;
import org.ejml.interfaces.linsol.LinearSolverDense;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * The layer Hessian of GPTQ and SparseGPT, H = 2/N sum_t x_t x_t^T (Frantar et al., section 3: the Hessian of ||WX - QX||^2), summed
 * over calibration inputs as they stream past. Each call adds a chunk of T tokens: the upper triangle, row by row,
 * four tokens at a time, in float per call (T is at most a few hundred) and then into a double sum.
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
        // x^T, so that the four coefficients x[t..t+3][i] of row i lie side by side
        float[] xt = new float[n * T];
        for (int t = 0; t < T; t++) for (int j = 0; j < n; j++) xt[j * T + t] = x[off + t * n + j];
        parallel(threads, threads * 16, n, (lo, hi) -> { // the triangle's rows shrink: many small chunks balance it
            float[] acc = new float[n];
            for (int i = lo; i < hi; i++) {
                java.util.Arrays.fill(acc, i, n, 0f);
                if (vector) rowVector(x, off, T, n, xt, i, acc);
                else rowScalar(x, off, T, n, xt, i, acc);
                int base = i * n;
                for (int j = i; j < n; j++) sum[base + j] += acc[j];
            }
        });
        tokens += T;
    }

    /** acc[i..n) += sum_t x[t][i] * x[t][i..n): four tokens per pass over the row, fused multiply-adds in token order. */
    static void rowVector(float[] x, int off, int T, int n, float[] xt, int i, float[] acc) {
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            float a0 = xt[i * T + t], a1 = xt[i * T + t + 1], a2 = xt[i * T + t + 2], a3 = xt[i * T + t + 3];
            int r0 = off + t * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
            FloatVector v0 = FloatVector.broadcast(FS, a0), v1 = FloatVector.broadcast(FS, a1),
                    v2 = FloatVector.broadcast(FS, a2), v3 = FloatVector.broadcast(FS, a3);
            int j = i;
            for (int upper = i + FS.loopBound(n - i); j < upper; j += FS.length()) {
                FloatVector s = FloatVector.fromArray(FS, acc, j);
                s = FloatVector.fromArray(FS, x, r0 + j).fma(v0, s);
                s = FloatVector.fromArray(FS, x, r1 + j).fma(v1, s);
                s = FloatVector.fromArray(FS, x, r2 + j).fma(v2, s);
                s = FloatVector.fromArray(FS, x, r3 + j).fma(v3, s);
                s.intoArray(acc, j);
            }
            for (; j < n; j++) {
                float s = acc[j];
                s = Math.fma(x[r0 + j], a0, s);
                s = Math.fma(x[r1 + j], a1, s);
                s = Math.fma(x[r2 + j], a2, s);
                acc[j] = Math.fma(x[r3 + j], a3, s);
            }
        }
        for (; t < T; t++) {
            float a = xt[i * T + t];
            int r = off + t * n;
            for (int j = i; j < n; j++) acc[j] = Math.fma(x[r + j], a, acc[j]);
        }
    }

    /** The scalar twin of {@link #rowVector}: the same fused multiply-adds in the same order, so the same bits. */
    static void rowScalar(float[] x, int off, int T, int n, float[] xt, int i, float[] acc) {
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            for (int j = i; j < n; j++) {
                float s = acc[j];
                for (int u = 0; u < 4; u++) s = Math.fma(x[off + (t + u) * n + j], xt[i * T + t + u], s);
                acc[j] = s;
            }
        }
        for (; t < T; t++) for (int j = i; j < n; j++) acc[j] = Math.fma(x[off + t * n + j], xt[i * T + t], acc[j]);
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
     * The upper Cholesky factor of the damped inverse Hessian that GPTQ and SparseGPT walk (EJML Cholesky, inverse,
     * Cholesky again), retrying with tenfold damping {@code retries} times; throws naming the tensor and the dampings.
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

    private static double[] tryUpperCholeskyOfInverse(double[] a, int n) {
        LinearSolverDense<DMatrixRMaj> solver = LinearSolverFactory_DDRM.symmPosDef(n);
        if (!solver.setA(DMatrixRMaj.wrap(n, n, a))) return null;
        DMatrixRMaj inv = new DMatrixRMaj(n, n);
        solver.invert(inv);
        CholeskyDecomposition_F64<DMatrixRMaj> chol = DecompositionFactory_DDRM.chol(n, false);
        if (!chol.decompose(inv)) return null;
        double[] u = chol.getT(null).data;
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
