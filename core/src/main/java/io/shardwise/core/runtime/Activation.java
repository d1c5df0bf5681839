package io.shardwise.core.runtime;

import io.shardwise.core.tensor.GgmlType;

/**
 * An activation vector prepared for one weight type's dot product: floats, or quantized to Q8_0 / Q8_K blocks as
 * llama.cpp's {@code vec_dot_type} does. Reusable scratch: grows as needed. Filled by {@link RowKernels#prepare}.
 */
public final class Activation {
    /** The activation's own type: F32 (floats), Q8_0 or Q8_K. */
    GgmlType kind = GgmlType.F32;
    /** Element count. */
    int n;
    /** F32: the values. */
    float[] f = new float[0];
    /** Q8_0 / Q8_K: the int8 quants, n of them. */
    byte[] q = new byte[0];
    /** Q8_0 / Q8_K: one scale per block (Q8_0's is the fp16-rounded scale ggml stores). */
    float[] d = new float[0];
    /** Q8_K: per block, the sums of each 16 quants (16 per block), as ggml's bsums. */
    short[] bsums = new short[0];
    /** Generic slow path: a dequantized weight row. */
    float[] rowScratch = new float[0];

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

    /** Sizes the buffers for n elements of the given kind (keeps larger buffers). */
    void reset(GgmlType kind, int n) {
        this.kind = kind;
        this.n = n;
        if (kind == GgmlType.F32) {
            if (f.length < n) f = new float[n];
        } else {
            int blocks = n / kind.blockSize;
            if (q.length < n) q = new byte[n];
            if (d.length < blocks) d = new float[blocks];
            if (kind == GgmlType.Q8_K && bsums.length < blocks * 16) bsums = new short[blocks * 16];
        }
    }

    float[] rowScratch(int n) {
        if (rowScratch.length < n) rowScratch = new float[n];
        return rowScratch;
    }
}
