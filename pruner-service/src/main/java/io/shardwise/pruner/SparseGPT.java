package io.shardwise.pruner;

import io.shardwise.core.calib.Hessian;
import io.shardwise.core.tensor.ChannelIntType;

import java.util.Arrays;

/**
 * SparseGPT (Frantar and Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot",
 * Algorithm 1): columns are visited left to right with U, the upper Cholesky factor of H^-1; at the start of each
 * block of columns the mask is chosen by the OBS saliency w^2 / [U]_jj^2 on the already-updated weights (adaptive
 * mask selection: the block's lowest {@code sparsity} fraction, or under N:M the M - N lowest of each group of M),
 * each pruned (or, jointly, quantized) weight's error err = (w - q) / U_jj is spread over the later columns
 * (W[:, k] -= err * U[j, k], eq. 5 with the Cholesky rows), in-block at once and to the rest once per block (lazy
 * batch updates). Rows are independent given the mask, so threads take slices of rows.
 */
public final class SparseGPT {
    static final int DAMP_RETRIES = 3;

    /**
     * @param damp      fraction of mean(diag H) added to the diagonal (x10 retried when not positive definite)
     * @param blockSize columns per mask choice and lazy update (rounded down to a multiple of M under N:M)
     * @param quantize  the joint quantization grid (4 or 8 bits per channel), or null to prune only
     */
    public record Options(double damp, int blockSize, ChannelIntType quantize, int threads) {
        public static final Options DEFAULT = new Options(0.01, 128, null, 1);

        public Options {
            if (!(damp >= 1e-4 && damp <= 1)) throw new IllegalArgumentException("sparsegpt: params.damp " + damp + " is outside [0.0001, 1]");
            if (blockSize < 1 || blockSize > 4096) throw new IllegalArgumentException("sparsegpt: params.block_size " + blockSize + " is outside [1, 4096]");
            if (threads < 1) throw new IllegalArgumentException("sparsegpt: threads " + threads + " must be positive");
        }
    }

    /**
     * The pruned (and maybe quantized) weights, row-major; with a grid, their codes; the damping used, the OBS loss
     * sum (w - q)^2 / U_jj^2 / 2 and the zeros, with the weights left dense at the end of rows under N:M.
     */
    public record Result(float[] weights, ChannelGrid grid, int[] codes, double dampUsed, double obsLoss, long zeros, long denseTail) {
    }

    private SparseGPT() {
    }

    /** Prunes {@code w} (rows x cols, row-major, left as it is) with Hessian {@code h} (cols x cols, left as it is). */
    public static Result prune(String name, int rows, int cols, float[] w, double[] h, MagnitudePruning.Pattern pattern, Options o) {
        if (w.length != (long) rows * cols) throw new IllegalArgumentException(name + ": " + w.length + " weights are not " + rows + " x " + cols);
        if (h.length != (long) cols * cols) throw new IllegalArgumentException(name + ": Hessian is " + h.length + " values, want " + cols + "^2");
        ChannelGrid grid = o.quantize() == null ? null : ChannelGrid.fit(o.quantize(), w, rows, cols);
        float[] wt = new float[rows * cols]; // column-major: column k of every row is one contiguous run
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) wt[c * rows + r] = w[r * cols + c];
        double[] hd = h.clone();
        for (int c = 0; c < cols; c++) {
            if (hd[c * cols + c] == 0) { // a dead input: its weight never matters, so it goes
                hd[c * cols + c] = 1;
                Arrays.fill(wt, c * rows, (c + 1) * rows, 0f);
            }
        }
        Hessian.InverseFactor f = Hessian.upperCholeskyOfInverse(name, hd, cols, o.damp(), DAMP_RETRIES);
        double[] u = f.upper();
        int m = pattern instanceof MagnitudePruning.NOfM nm ? nm.m() : 1;
        int block = Math.max(m, o.blockSize() - o.blockSize() % m); // N:M groups never straddle blocks
        boolean[] prune = new boolean[rows * cols]; // column-major, as wt
        int[] codes = grid == null ? null : new int[rows * cols];
        double[] loss = new double[1];
        long[] keys = pattern instanceof MagnitudePruning.Unstructured ? new long[block * rows] : null;
        float[] score = keys == null ? null : new float[block * rows];
        for (int i1 = 0; i1 < cols; i1 += block) {
            int i2 = Math.min(cols, i1 + block);
            if (pattern instanceof MagnitudePruning.Unstructured un) { // the block's mask, over all rows at once
                for (int j = i1; j < i2; j++) {
                    double d = u[j * cols + j];
                    for (int r = 0; r < rows; r++) score[(j - i1) * rows + r] = (float) (wt[j * rows + r] * (double) wt[j * rows + r] / (d * d));
                }
                int len = (i2 - i1) * rows;
                boolean[] mask = new boolean[len];
                NmSparsity.lowest(score, 0, len, (int) Math.round(un.sparsity() * len), mask, keys);
                System.arraycopy(mask, 0, prune, i1 * rows, len);
            }
            int b1 = i1, b2 = i2;
            Hessian.parallel(o.threads(), o.threads(), rows, (r0, r1) -> {
                double l = block(wt, u, cols, rows, r0, r1, b1, b2, pattern, prune, grid, codes);
                synchronized (loss) {
                    loss[0] += l;
                }
            });
        }
        float[] out = new float[rows * cols];
        long zeros = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                float v = wt[c * rows + r];
                out[r * cols + c] = v;
                if (v == 0f) zeros++;
            }
        }
        int[] rowCodes = null;
        if (codes != null) {
            rowCodes = new int[rows * cols];
            for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) rowCodes[r * cols + c] = codes[c * rows + r];
        }
        long denseTail = pattern instanceof MagnitudePruning.NOfM nm ? (long) (cols % nm.m()) * rows : 0;
        return new Result(out, grid, rowCodes, f.dampUsed(), loss[0] / 2, zeros, denseTail);
    }

    /** Algorithm 1 on columns [i1, i2) of rows [r0, r1): in-block updates now, the rest of the matrix once. */
    private static double block(float[] w, double[] u, int cols, int rows, int r0, int r1, int i1, int i2,
                                MagnitudePruning.Pattern pattern, boolean[] prune, ChannelGrid grid, int[] codes) {
        int n = r1 - r0;
        float[] err = new float[(i2 - i1) * n];
        float[] gscore = pattern instanceof MagnitudePruning.NOfM nm ? new float[nm.m() * rows] : null;
        double loss = 0;
        for (int j = i1; j < i2; j++) {
            if (pattern instanceof MagnitudePruning.NOfM nm && j % nm.m() == 0 && j + nm.m() <= cols) {
                for (int k = 0; k < nm.m(); k++) { // the group's saliencies on the weights as updated so far
                    double d = u[(j + k) * cols + j + k];
                    for (int r = r0; r < r1; r++) gscore[k * rows + r] = (float) (w[(j + k) * rows + r] * (double) w[(j + k) * rows + r] / (d * d));
                }
                for (int r = r0; r < r1; r++) NmSparsity.group(gscore, r, rows, nm.n(), nm.m(), prune, j * rows + r);
            }
            float d = (float) u[j * cols + j];
            int e = (j - i1) * n;
            for (int r = r0; r < r1; r++) {
                float x = w[j * rows + r];
                float q = 0f;
                if (!prune[j * rows + r]) {
                    if (grid == null) {
                        q = x;
                    } else {
                        int c = grid.quantize(x, r);
                        codes[j * rows + r] = c;
                        q = grid.value(c, r);
                    }
                } else if (grid != null) {
                    codes[j * rows + r] = grid.quantize(0f, r);
                }
                float dq = x - q;
                w[j * rows + r] = q;
                loss += (double) dq * dq / ((double) d * d);
                err[e + r - r0] = dq / d;
            }
            for (int k = j + 1; k < i2; k++) axpy(-(float) u[j * cols + k], err, e, w, k * rows + r0, n);
        }
        for (int k = i2; k < cols; k++) {
            for (int j = i1; j < i2; j++) axpy(-(float) u[j * cols + k], err, (j - i1) * n, w, k * rows + r0, n);
        }
        return loss;
    }

    /** y[yOff..+n) += a * x[xOff..+n). */
    private static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        if (a == 0) return;
        for (int i = 0; i < n; i++) y[yOff + i] = Math.fma(a, x[xOff + i], y[yOff + i]);
    }
}
