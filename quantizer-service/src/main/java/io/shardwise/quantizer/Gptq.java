package io.shardwise.quantizer;

import io.shardwise.core.calib.Hessian;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
 * Algorithm 1): columns are quantized one at a time and each one's error, divided by the diagonal of the upper
 * Cholesky factor U of H^-1, is spread over the columns not yet quantized (eq. 3 with the Cholesky reformulation,
 * W[:, k] -= err * U[j, k]); columns are taken in blocks (lazy batch updates), optionally by descending H_jj
 * (act-order). Rows are independent given U, so threads take slices of rows.
 */
public final class Gptq {
    /** How many times the damping grows tenfold when H + damp * mean(diag H) I is not positive definite. */
    static final int DAMP_RETRIES = 3;

    /**
     * @param actOrder     quantize columns by descending H_jj (un-permuted in the output)
     * @param staticGroups fit every group's grid on the original weights before any update (forced with act-order:
     *                     our formats keep groups of consecutive columns, with no g_idx)
     * @param damp         fraction of mean(diag H) added to the diagonal
     * @param keepZeros    a weight that is exactly zero (a pruned mask, e.g. SparseGPT's) is quantized to the grid's
     *                     zero and its error spread like any other, so prune -> GPTQ keeps the sparsity
     */
    public record Options(boolean actOrder, boolean staticGroups, double damp, int blockSize, int threads, boolean keepZeros) {
        public static final Options DEFAULT = new Options(true, false, 0.01, 128, 1, true);

        public Options(boolean actOrder, boolean staticGroups, double damp, int blockSize, int threads) {
            this(actOrder, staticGroups, damp, blockSize, threads, true);
        }

        public Options {
            if (!(damp >= 1e-4 && damp <= 1)) throw new IllegalArgumentException("gptq: params.damp " + damp + " is outside [0.0001, 1]");
            if (blockSize < 1 || blockSize > 4096) throw new IllegalArgumentException("gptq: params.block_size " + blockSize + " is outside [1, 4096]");
            if (threads < 1) throw new IllegalArgumentException("gptq: threads " + threads + " must be positive");
        }
    }

    /** The quantized tensor, the damping that made H positive definite, and GPTQ's own error estimate sum (w-q)^2 / U_jj^2. */
    public record Result(Tensor tensor, double dampUsed, double obsLoss) {
    }

    private Gptq() {
    }

    /**
     * Quantizes {@code w} (rows x cols, row-major: ggml shape {cols, rows}) to {@code type} with Hessian {@code h}
     * (cols x cols, row-major, left as it is) into {@code arena}.
     */
    public static Result quantize(String name, int rows, int cols, float[] w, double[] h, TensorType type, Options o, Arena arena) {
        if (h.length != (long) cols * cols) throw new IllegalArgumentException(name + ": Hessian is " + h.length + " values, want " + cols + "^2");
        GptqGrid grid = new GptqGrid(type, rows, cols);
        // column-major weights: GPTQ walks columns, and column c of every row is then one contiguous run
        float[] wt = new float[rows * cols];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) wt[c * rows + r] = w[r * cols + c];
        double[] hd = h.clone();
        for (int c = 0; c < cols; c++) {
            if (hd[c * cols + c] == 0) { // a dead input: its weight never matters
                hd[c * cols + c] = 1;
                Arrays.fill(wt, c * rows, (c + 1) * rows, 0f);
            }
        }
        boolean perChannel = grid.group == cols;
        boolean upfront = perChannel || o.staticGroups() || o.actOrder();
        if (upfront) for (int c = 0; c < cols; c += grid.group) grid.fit(wt, c, 0, rows);
        int[] perm = IntStream.range(0, cols).boxed()
                .sorted(o.actOrder() ? Comparator.comparingDouble((Integer c) -> -hd[c * cols + c]) : Comparator.naturalOrder())
                .mapToInt(Integer::intValue).toArray();
        float[] wp = permuteColumns(wt, perm, rows);
        boolean[] zero = o.keepZeros() ? zeros(wp) : null;
        double[] hp = permute(hd, perm, cols);
        double[] dampUsed = new double[1];
        double[] u = upperCholeskyOfInverse(name, hp, cols, o.damp(), dampUsed);
        byte[] q = new byte[rows * cols];
        double[] loss = new double[1];
        Hessian.parallel(o.threads(), o.threads(), rows, (r0, r1) -> {
            double l = solve(wp, zero, u, cols, rows, r0, r1, perm, grid, q, o.blockSize(), upfront);
            synchronized (loss) {
                loss[0] += l;
            }
        });
        MemorySegment out = arena.allocate(type.byteSize(new long[]{cols, rows}), 64);
        grid.write(q, out);
        return new Result(new Tensor(name, type, new long[]{cols, rows}, out), dampUsed[0], loss[0]);
    }

    /** Where the weights (column-major) are exactly zero before any update: the pruned mask to keep. */
    private static boolean[] zeros(float[] w) {
        boolean[] z = new boolean[w.length];
        for (int i = 0; i < w.length; i++) z[i] = w[i] == 0f;
        return z;
    }

    /**
     * Algorithm 1 for rows [r0, r1): blocks of columns, in-block updates now, the rest of the matrix once per block.
     * A masked weight ({@code zero}, may be null) takes the grid's code for 0 whatever the updates made of it.
     */
    private static double solve(float[] w, boolean[] zero, double[] u, int cols, int rows, int r0, int r1, int[] perm, GptqGrid grid,
                                byte[] q, int blockSize, boolean upfront) {
        int n = r1 - r0;
        float[] err = new float[blockSize * n];
        double loss = 0;
        for (int i1 = 0; i1 < cols; i1 += blockSize) {
            int i2 = Math.min(cols, i1 + blockSize);
            for (int j = i1; j < i2; j++) {
                int col = perm[j]; // the original column: its group, and where its integers go
                if (!upfront && col % grid.group == 0) grid.fit(w, j, r0, r1);
                float d = (float) u[j * cols + j];
                int e = (j - i1) * n;
                for (int r = r0; r < r1; r++) {
                    float x = w[j * rows + r];
                    int qi = grid.quantize(zero != null && zero[j * rows + r] ? 0f : x, col, r);
                    float dq = x - grid.value(qi, col, r);
                    q[col * rows + r] = (byte) qi;
                    loss += (double) dq * dq / ((double) d * d);
                    err[e + r - r0] = dq / d;
                }
                for (int k = j + 1; k < i2; k++) axpy(-(float) u[j * cols + k], err, e, w, k * rows + r0, n);
            }
            for (int k = i2; k < cols; k++) {
                for (int j = i1; j < i2; j++) axpy(-(float) u[j * cols + k], err, (j - i1) * n, w, k * rows + r0, n);
            }
        }
        return loss / 2;
    }

    /** y[yOff..+n) += a * x[xOff..+n). */
    private static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        if (a == 0) return;
        for (int i = 0; i < n; i++) y[yOff + i] = Math.fma(a, x[xOff + i], y[yOff + i]);
    }

    /**
     * U with U^T U = (H + damp * mean(diag H) I)^-1 ({@link Hessian#upperCholeskyOfInverse}), retrying with tenfold
     * damping {@link #DAMP_RETRIES} times; throws naming the tensor and the dampings tried.
     */
    static double[] upperCholeskyOfInverse(String name, double[] h, int n, double damp, double[] dampUsed) {
        Hessian.InverseFactor f = Hessian.upperCholeskyOfInverse(name, h, n, damp, DAMP_RETRIES);
        dampUsed[0] = f.dampUsed();
        return f.upper();
    }

    private static float[] permuteColumns(float[] wt, int[] perm, int rows) {
        float[] out = new float[wt.length];
        for (int j = 0; j < perm.length; j++) System.arraycopy(wt, perm[j] * rows, out, j * rows, rows);
        return out;
    }

    private static double[] permute(double[] h, int[] perm, int n) {
        double[] out = new double[h.length];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) out[i * n + j] = h[perm[i] * n + perm[j]];
        return out;
    }

    /**
     * {tr(dW H dW^T), tr(W H W^T)} with dW = W - Q: the output error ||WX - QX||^2 and the output energy ||WX||^2,
     * both times 2/N (rows x cols^2 multiply-adds).
     */
    public static double[] outputError(float[] w, float[] q, int rows, int cols, double[] h) {
        double err = 0, ref = 0;
        double[] dw = new double[cols], wr = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                wr[c] = w[r * cols + c];
                dw[c] = wr[c] - q[r * cols + c];
            }
            for (int i = 0; i < cols; i++) {
                double se = 0, sr = 0;
                for (int j = 0; j < cols; j++) {
                    se += h[i * cols + j] * dw[j];
                    sr += h[i * cols + j] * wr[j];
                }
                err += dw[i] * se;
                ref += wr[i] * sr;
            }
        }
        return new double[]{err, ref};
    }

    /** Dequantized copy of a tensor (rows x cols, row-major). */
    static float[] floats(Tensor t) {
        return TensorCodecs.dequantize(t);
    }
}
