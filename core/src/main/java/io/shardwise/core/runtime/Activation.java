package io.shardwise.core.runtime;

import io.shardwise.core.quant.F16Codec;
import io.shardwise.core.quant.GgmlRound;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;

/**
 * An activation vector prepared for one weight type's dot product: floats, or quantized to Q8_0 / Q8_K blocks as
 * llama.cpp's {@code vec_dot_type} does. Reusable scratch: grows as needed. Filled by {@link RowKernels#prepare}.
 * Quantization follows ggml-quants.c's {@code quantize_row_q8_0_ref} and {@code quantize_row_q8_K_ref} bit for bit;
 * the quants are kept widened to shorts, the layout the Vector API kernels multiply in. For {@link RowInt8Type}
 * weights (W8A8, LLM.int8()) the activation is quantized per token, symmetric absmax/127 over the non-outlier
 * columns, the outlier columns kept as floats; since the outlier columns are stored in the weight rows, that
 * quantization happens on first use by a kernel ({@link #readyRowInt8}), so an activation of an {@code I8_F16X<k>}
 * type must not be shared between threads (the runtime gives each row piece its own).
 */
public final class Activation {
    /** The activation's own type: F32 (floats), Q8_0, Q8_K, or the RowInt8Type of the weights it meets. */
    TensorType kind = GgmlType.F32;
    /** Element count. */
    int n;
    /** F32: the values. */
    float[] f = new float[0];
    /** Q8_0 / Q8_K: the int8 quants (widened), n of them. */
    short[] q = new short[0];
    /** Q8_0 / Q8_K: one scale per block (Q8_0's is the fp16-rounded scale ggml stores and multiplies with). */
    float[] d = new float[0];
    /** Sums of quants: Q8_0 one per 32-block, Q8_K one per 16 (ggml's bsums). */
    short[] sums = new short[0];
    /** Q8_K: the quants again, each 64 reordered as the 32 at even positions then the 32 at odd (Q6_K's vector dot reads them so). */
    short[] qEvenOdd = new short[0];
    /** Row int8: the per-token scale (absmax / 127 over the non-outlier columns). */
    float scale;
    /** Row int8: whether q and scale hold the int8 form for the outlier columns in {@code cols}. */
    boolean int8Ready;
    /** Row int8: the outlier columns quantized around (k of them), and the float activation there. */
    int[] cols = new int[0];
    float[] outliers = new float[0];
    /** F32: the values in {@link Sparse24Rows}' chunk order (each 64 as the 16 at 4j, 4j+1, 4j+2, 4j+3), zero-padded; valid when sparseReady. */
    float[] sparseOrder = new float[0];
    boolean sparseReady;

    public Activation() {
    }

    /** The activation type these values were prepared as (for RowInt8Type weights, that type itself). */
    public TensorType kind() {
        return kind;
    }

    /** The number of elements prepared. */
    public int length() {
        return n;
    }

    /** The i-th value as the dot products see it (dequantized for Q8 kinds). */
    public float value(int i) {
        if (i < 0 || i >= n) throw new IndexOutOfBoundsException(i + " of " + n);
        if (kind instanceof RowInt8Type r) {
            if (!int8Ready) return f[i]; // outlier columns not yet known: no kernel has used it
            for (int c = 0; c < r.outliers(); c++) if (cols[c] == i) return f[i];
            return q[i] * scale;
        }
        return kind == GgmlType.F32 ? f[i] : q[i] * d[i / ((GgmlType) kind).blockSize];
    }

    /** Keeps x[off, off+n) as floats for rows of type t; quantized at once for I8_SYM_CH, on first use for I8_F16X<k>. */
    void prepareRowInt8(RowInt8Type t, float[] x, int off, int n) {
        reset(GgmlType.F32, n);
        System.arraycopy(x, off, f, 0, n);
        kind = t;
        if (q.length < n) q = new short[n];
        if (cols.length < t.outliers()) {
            cols = new int[t.outliers()];
            outliers = new float[t.outliers()];
        }
        int8Ready = false;
        if (t.outliers() == 0) quantizeRowInt8();
    }

    /**
     * Makes the int8 form match the outlier columns of the weight row whose k column indices start at
     * {@code colsAt} (int32 each); quantizes again only when they differ from the last ones.
     */
    void readyRowInt8(MemorySegment w, long colsAt, int k) {
        if (int8Ready) {
            boolean same = true;
            for (int c = 0; c < k && same; c++) same = cols[c] == w.get(WeightRows.I32, colsAt + 4L * c);
            if (same) return;
        }
        for (int c = 0; c < k; c++) {
            int j = w.get(WeightRows.I32, colsAt + 4L * c);
            if (j < 0 || j >= n) throw new IllegalArgumentException("weight row names outlier column " + j + " outside [0, " + n + ")");
            cols[c] = j;
        }
        quantizeRowInt8();
    }

    /** q = round(x / scale), scale = absmax / 127 over the columns outside cols; those columns get q = 0 and keep x. */
    private void quantizeRowInt8() {
        int k = ((RowInt8Type) kind).outliers();
        for (int c = 0; c < k; c++) {
            outliers[c] = f[cols[c]];
            f[cols[c]] = 0; // zeroed for the absmax; put back below
        }
        float amax = 0;
        for (int i = 0; i < n; i++) amax = Math.max(amax, Math.abs(f[i]));
        scale = amax / 127f;
        float inv = amax == 0 ? 0 : 127f / amax;
        for (int i = 0; i < n; i++) q[i] = (short) Math.max(-127, Math.min(127, Math.round(f[i] * inv)));
        for (int c = k - 1; c >= 0; c--) f[cols[c]] = outliers[c]; // backwards: a repeated column gets its first (true) value
        int8Ready = true;
    }

    /** Copies x[off, off+n) as floats. */
    void setFloats(float[] x, int off, int n) {
        reset(GgmlType.F32, n);
        System.arraycopy(x, off, f, 0, n);
    }

    /** quantize_row_q8_0_ref: per 32 values d = max|x|/127 stored as fp16, q = roundf(x / d) with the unrounded d. */
    void quantizeQ8_0(float[] x, int off, int n) {
        if (n % 32 != 0) throw new IllegalArgumentException("a Q8_0 activation needs a multiple of 32 values, got " + n);
        reset(GgmlType.Q8_0, n);
        for (int b = 0; b < n / 32; b++) {
            int base = off + b * 32;
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                float a = Math.abs(x[base + j]);
                amax = amax > a ? amax : a; // C's MAX, which differs from Math.max once a NaN is seen
            }
            float dd = amax / 127f;
            float id = dd != 0 ? 1f / dd : 0f;
            d[b] = F16Codec.halfToFloat(F16Codec.floatToHalf(dd));
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                int v = (byte) GgmlRound.roundf(x[base + j] * id);
                q[b * 32 + j] = (short) v;
                sum += v;
            }
            sums[b] = (short) sum;
        }
    }

    /** quantize_row_q8_K_ref: per 256 values iscale = -127/max (max = the value of largest magnitude), q = min(127, nearest_int(iscale x)), d = 1/iscale, bsums per 16. */
    void quantizeQ8_K(float[] x, int off, int n) {
        if (n % 256 != 0) throw new IllegalArgumentException("a Q8_K activation needs a multiple of 256 values, got " + n);
        reset(GgmlType.Q8_K, n);
        for (int b = 0; b < n / 256; b++) {
            int base = off + b * 256;
            float max = 0, amax = 0;
            for (int j = 0; j < 256; j++) {
                float ax = Math.abs(x[base + j]);
                if (ax > amax) {
                    amax = ax;
                    max = x[base + j];
                }
            }
            if (amax == 0) {
                d[b] = 0;
                java.util.Arrays.fill(q, b * 256, b * 256 + 256, (short) 0);
                java.util.Arrays.fill(sums, b * 16, b * 16 + 16, (short) 0);
                continue;
            }
            float iscale = -127f / max;
            for (int j = 0; j < 256; j++) q[b * 256 + j] = (short) (byte) Math.min(127, GgmlRound.nearestInt(iscale * x[base + j]));
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int j = 0; j < 16; j++) sum += q[b * 256 + g * 16 + j];
                sums[b * 16 + g] = (short) sum;
            }
            d[b] = 1 / iscale;
        }
        for (int g = 0; g < n / 64; g++) {
            for (int i = 0; i < 32; i++) {
                qEvenOdd[64 * g + i] = q[64 * g + 2 * i];
                qEvenOdd[64 * g + 32 + i] = q[64 * g + 2 * i + 1];
            }
        }
    }

    /** Sizes the buffers for n elements of the given kind (keeps larger buffers). */
    private void reset(GgmlType kind, int n) {
        this.kind = kind;
        this.int8Ready = false;
        this.sparseReady = false;
        this.n = n;
        if (kind == GgmlType.F32) {
            if (f.length < n) f = new float[n];
        } else {
            int blocks = n / kind.blockSize;
            int nsums = kind == GgmlType.Q8_K ? blocks * 16 : blocks;
            if (q.length < n) q = new short[n];
            if (d.length < blocks) d = new float[blocks];
            if (sums.length < nsums) sums = new short[nsums];
            if (kind == GgmlType.Q8_K && qEvenOdd.length < n) qEvenOdd = new short[n];
        }
    }
}
