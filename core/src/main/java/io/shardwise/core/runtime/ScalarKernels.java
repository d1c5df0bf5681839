package io.shardwise.core.runtime;

/** Plain loops: the reference twin of {@link VectorKernels}. */
public final class ScalarKernels implements Kernels {
    public static final ScalarKernels INSTANCE = new ScalarKernels();

    private ScalarKernels() {
    }

    @Override
    public void gemm(float[] a, int aOff, int lda, int rows, int k, float[] b, int bOff, int ldb, int n, float[] c, int cOff, int ldc) {
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < n; j++) {
                float acc = 0f;
                for (int i = 0; i < k; i++) acc += a[aOff + r * lda + i] * b[bOff + i * ldb + j];
                c[cOff + r * ldc + j] = acc;
            }
        }
    }

    @Override
    public void weightedSumT(float[] p, int ldp, int rows, int n, float[] vt, int vtOff, int ldv, int hs, float[] out, int outOff, int ldo) {
        for (int r = 0; r < rows; r++) {
            for (int d = 0; d < hs; d++) out[outOff + r * ldo + d] = dot(p, r * ldp, vt, vtOff + d * ldv, n);
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

    @Override
    public void rmsnorm(float[] x, int xOff, float[] weight, float[] out, int outOff, int n, float eps) {
        float inv = (float) (1.0 / Math.sqrt(dot(x, xOff, x, xOff, n) / n + eps));
        for (int i = 0; i < n; i++) out[outOff + i] = weight[i] * (inv * x[xOff + i]);
    }

    @Override
    public void softmax(float[] x, int off, int n) {
        float inv = 1f / expInPlace(x, off, n, max(x, off, n));
        for (int i = off; i < off + n; i++) x[i] *= inv;
    }

    @Override
    public void rope(float[] v, int off, int n, int headSize, float[] cos, float[] sin, int csOff, boolean neox) {
        int half = headSize / 2;
        for (int h = off; h < off + n; h += headSize) {
            for (int j = 0; j < half; j++) {
                int i0 = neox ? h + j : h + 2 * j, i1 = neox ? i0 + half : i0 + 1;
                float c = cos[csOff + j], s = sin[csOff + j], v0 = v[i0], v1 = v[i1];
                v[i0] = v0 * c - v1 * s;
                v[i1] = v0 * s + v1 * c;
            }
        }
    }

    @Override
    public void decodeF16(java.lang.foreign.MemorySegment src, long at, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(src.get(WeightRows.I16, at + 2L * i));
    }

    @Override
    public void decodeBF16(java.lang.foreign.MemorySegment src, long at, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) dst[dstOff + i] = Float.intBitsToFloat(src.get(WeightRows.I16, at + 2L * i) << 16);
    }
}
