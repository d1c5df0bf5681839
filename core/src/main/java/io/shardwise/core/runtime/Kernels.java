package io.shardwise.core.runtime;

/**
 * The forward pass's inner loops. {@link VectorKernels} runs them with the Vector API;
 * {@link ScalarKernels} is its plain-Java twin, the reference the tests compare it with.
 * System property {@code shardwise.kernels=scalar} selects the twin everywhere.
 */
public sealed interface Kernels permits VectorKernels, ScalarKernels {

    /** {@code c[r][o] = sum_i a[r][i] * wt[i][o]}: a is rows x in, wt (a weight stored transposed) in x out, c rows x out. */
    void matmul(float[] a, int rows, int in, float[] wt, int out, float[] c);

    /** {@code out[s] = scale * sum_d q[qOff + d] * kt[ktOff + d * stride + s]} for s in [0, n): attention scores against transposed keys. */
    void scoresT(float[] q, int qOff, int hs, float[] kt, int ktOff, int stride, int n, float scale, float[] out);

    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    float max(float[] x, int off, int n);

    /** {@code x[i] = exp(x[i] - shift)} in place over [off, off + n); returns their sum. */
    float expInPlace(float[] x, int off, int n, float shift);

    /** {@code sum exp(x[i] - shift)} over [off, off + n), leaving x as it is. */
    float sumExp(float[] x, int off, int n, float shift);

    /** SwiGLU's gate: {@code gate[i] = silu(gate[i]) * up[i]} for i in [0, n). */
    void swiglu(float[] gate, float[] up, int n);

    /** The kernels to use: the Vector API ones unless {@code -Dshardwise.kernels=scalar}. */
    static Kernels preferred() {
        return "scalar".equalsIgnoreCase(System.getProperty("shardwise.kernels")) ? ScalarKernels.INSTANCE : VectorKernels.INSTANCE;
    }
}
