package io.shardwise.core.runtime;

/** Plain loops: the reference twin of {@link VectorKernels}. */
public final class ScalarKernels implements Kernels {
    public static final ScalarKernels INSTANCE = new ScalarKernels();

    private ScalarKernels() {
    }

    @Override
    public void matmul(float[] a, int rows, int in, float[] wt, int out, float[] c) {
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                float acc = 0f;
                for (int i = 0; i < in; i++) acc += a[r * in + i] * wt[i * out + o];
                c[r * out + o] = acc;
            }
        }
    }

    @Override
    public void scoresT(float[] q, int qOff, int hs, float[] kt, int ktOff, int stride, int n, float scale, float[] out) {
        for (int s = 0; s < n; s++) {
            float acc = 0f;
            for (int d = 0; d < hs; d++) acc += q[qOff + d] * kt[ktOff + d * stride + s];
            out[s] = acc * scale;
        }
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float acc = 0f;
        for (int i = 0; i < n; i++) acc += a[aOff + i] * b[bOff + i];
        return acc;
    }

    @Override
    public float max(float[] x, int off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = off; i < off + n; i++) m = Math.max(m, x[i]);
        return m;
    }

    @Override
    public float expInPlace(float[] x, int off, int n, float shift) {
        float sum = 0f;
        for (int i = off; i < off + n; i++) {
            x[i] = (float) Math.exp(x[i] - shift);
            sum += x[i];
        }
        return sum;
    }

    @Override
    public float sumExp(float[] x, int off, int n, float shift) {
        float sum = 0f;
        for (int i = off; i < off + n; i++) sum += (float) Math.exp(x[i] - shift);
        return sum;
    }

    @Override
    public void swiglu(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }
}
