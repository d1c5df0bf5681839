package io.shardwise.core.runtime;

/**
 * The forward pass's inner loops. {@link VectorKernels} runs them with the Vector API;
 * {@link ScalarKernels} is its plain-Java twin, the reference the tests compare it with.
 * System property {@code shardwise.kernels=scalar} selects the twin everywhere.
 */
public sealed interface Kernels permits VectorKernels, ScalarKernels {

    /**
     * {@code c[cOff + r*ldc + j] = sum_i a[aOff + r*lda + i] * b[bOff + i*ldb + j]} for r < rows, i < k, j < n:
     * linear layers (b = a weight stored transposed) and attention scores (b = keys stored transposed).
     */
    void gemm(float[] a, int aOff, int lda, int rows, int k, float[] b, int bOff, int ldb, int n, float[] c, int cOff, int ldc);

    /** {@code c[r][o] = sum_i a[r][i] * wt[i][o]}: a is rows x in, wt (a weight stored transposed) in x out, c rows x out. */
    default void matmul(float[] a, int rows, int in, float[] wt, int out, float[] c) {
        gemm(a, 0, in, rows, in, wt, 0, out, out, c, 0, out);
    }

    /**
     * Attention output against transposed values: {@code out[outOff + r*ldo + d] = sum_s p[r*ldp + s] * vt[vtOff + d*ldv + s]}
     * for r < rows, d < hs, s < n.
     */
    void weightedSumT(float[] p, int ldp, int rows, int n, float[] vt, int vtOff, int ldv, int hs, float[] out, int outOff, int ldo);

    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    float max(float[] x, int off, int n);

    /** {@code x[i] = exp(x[i] - shift)} in place over [off, off + n); returns their sum. */
    float expInPlace(float[] x, int off, int n, float shift);

    /** {@code sum exp(x[i] - shift)} over [off, off + n), leaving x as it is. */
    float sumExp(float[] x, int off, int n, float shift);

    /** SwiGLU's gate: {@code gate[i] = silu(gate[i]) * up[i]} for i in [0, n). */
    void swiglu(float[] gate, float[] up, int n);

    /**
     * RMSNorm: {@code out[outOff + i] = weight[i] * (inv * x[xOff + i])} for i < n, where
     * {@code inv = 1 / sqrt(mean(x^2) + eps)} (the mean in float, the root in double). out may be x.
     */
    void rmsnorm(float[] x, int xOff, float[] weight, float[] out, int outOff, int n, float eps);

    /** Softmax in place over [off, off + n): exp(x - max) / sum; entries of -infinity weigh exactly zero. */
    void softmax(float[] x, int off, int n);

    /**
     * RoPE over the heads of {@code headSize} values in [off, off + n), each rotated by the angles whose
     * cosines and sines are {@code cos/sin[csOff + j]}, j < headSize / 2 (precomputed for one position).
     * Interleaved ({@code neox = false}, GGUF "llama"): pairs (2j, 2j+1). NEOX ({@code neox = true}, qwen2): pairs (j, j + headSize/2).
     */
    void rope(float[] v, int off, int n, int headSize, float[] cos, float[] sin, int csOff, boolean neox);

    /** IEEE halfs (little-endian, at byte offset {@code at}) to floats: {@code dst[dstOff + i]} for i < n, exact as ggml's fp16_to_fp32 (NaNs stay NaN). */
    void decodeF16(java.lang.foreign.MemorySegment src, long at, float[] dst, int dstOff, int n);

    /** bfloat16s (little-endian, at byte offset {@code at}) to floats: the 16 bits become a float's top half. */
    void decodeBF16(java.lang.foreign.MemorySegment src, long at, float[] dst, int dstOff, int n);

    /** The kernels to use: the Vector API ones unless {@code -Dshardwise.kernels=scalar}. */
    static Kernels preferred() {
        return "scalar".equalsIgnoreCase(System.getProperty("shardwise.kernels")) ? ScalarKernels.INSTANCE : VectorKernels.INSTANCE;
    }
}
