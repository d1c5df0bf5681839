package io.shardwise.core.runtime;

import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;

/**
 * Dot products of stored weight rows with activations; {@link VectorRowKernels} (Vector API) and
 * {@link ScalarRowKernels} (plain Java twin). Native paths: F32, F16, BF16 (float activations), Q8_0 and Q4_0
 * (activation quantized to Q8_0 as ggml's quantize_row_q8_0), Q4_K and Q6_K (activation quantized to Q8_K as
 * quantize_row_q8_K). Every other type takes the slow path: each row is dequantized with its codec and dotted in float.
 */
public sealed interface RowKernels permits VectorRowKernels, ScalarRowKernels {

    /** Prepares x[off, off+n) for dot products with rows of weight type t (quantizes to t's activation type). */
    void prepare(TensorType t, float[] x, int off, int n, Activation into);

    /**
     * y[yOff + (r - r0)] = dot(row r of w, a) for r in [r0, r1); w holds rows of n elements of type t back to back
     * (row bytes = t.byteSize({n})).
     */
    void matvec(TensorType t, MemorySegment w, int n, int r0, int r1, Activation a, float[] y, int yOff);

    /**
     * Batched: for T activations, y[tok*ldy + r] = dot(row r of w, as[tok]) for r in [r0, r1); each weight row is
     * loaded once for all T tokens (prefill).
     */
    void matmul(TensorType t, MemorySegment w, int n, int r0, int r1, Activation[] as, int T, float[] y, int ldy);

    /** y[yOff + (r - r0)] = dot(packed row r of w, a) for r in [r0, r1): the kept values of a 2:4 sparse weight only; a is prepared as F32. */
    void matvecSparse(Sparse24Rows w, int r0, int r1, Activation a, float[] y, int yOff);

    /** Batched {@link #matvecSparse}: y[tok*ldy + r] for T activations, each packed row read once for all of them. */
    void matmulSparse(Sparse24Rows w, int r0, int r1, Activation[] as, int T, float[] y, int ldy);

    /** The row kernels to use: the Vector API ones unless {@code -Dshardwise.kernels=scalar}. */
    static RowKernels preferred() {
        return "scalar".equalsIgnoreCase(System.getProperty("shardwise.kernels")) ? ScalarRowKernels.INSTANCE : VectorRowKernels.INSTANCE;
    }
}
