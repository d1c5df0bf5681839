package io.shardwise.core.runtime;

import io.shardwise.core.quant.F16Codec;
import io.shardwise.core.quant.GgmlRound;
import io.shardwise.core.tensor.GgmlType;

/**
 * An activation vector prepared for one weight type's dot product: floats, or quantized to Q8_0 / Q8_K blocks as
 * llama.cpp's {@code vec_dot_type} does. Reusable scratch: grows as needed. Filled by {@link RowKernels#prepare}.
 * Quantization follows ggml-quants.c's {@code quantize_row_q8_0_ref} and {@code quantize_row_q8_K_ref} bit for bit;
 * the quants are kept widened to shorts, the layout the Vector API kernels multiply in.
 */
public final class Activation {
    /** The activation's own type: F32 (floats), Q8_0 or Q8_K. */
    GgmlType kind = GgmlType.F32;
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

    public Activation() {
    }

    /** The activation type these values were prepared as. */
    public GgmlType kind() {
        return kind;
    }

    /** The number of elements prepared. */
    public int length() {
        return n;
    }

    /** The i-th value as the dot products see it (dequantized for Q8 kinds). */
    public float value(int i) {
        if (i < 0 || i >= n) throw new IndexOutOfBoundsException(i + " of " + n);
        return kind == GgmlType.F32 ? f[i] : q[i] * d[i / kind.blockSize];
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
