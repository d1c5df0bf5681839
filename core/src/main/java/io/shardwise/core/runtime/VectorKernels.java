package io.shardwise.core.runtime;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels (the preferred species, 16 floats with AVX-512); {@link ScalarKernels} is the twin.
 * Tails shorter than a vector run scalar, so any size is correct; the runtime pads hot sizes to 16.
 */
public final class VectorKernels implements Kernels {
    public static final VectorKernels INSTANCE = new VectorKernels();
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private VectorKernels() {
    }

    @Override
    public void matmul(float[] a, int rows, int in, float[] wt, int out, float[] c) {
        int ob = S.loopBound(out);
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            int a0 = r * in, a1 = a0 + in, a2 = a1 + in, a3 = a2 + in;
            int o = 0;
            // 4 rows x 2 vectors of outputs: each weight load feeds four FMAs
            for (; o + 2 * L <= ob; o += 2 * L) {
                FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
                for (int i = 0, w = o; i < in; i++, w += out) {
                    FloatVector w0 = FloatVector.fromArray(S, wt, w), w1 = FloatVector.fromArray(S, wt, w + L);
                    FloatVector x0 = FloatVector.broadcast(S, a[a0 + i]), x1 = FloatVector.broadcast(S, a[a1 + i]);
                    FloatVector x2 = FloatVector.broadcast(S, a[a2 + i]), x3 = FloatVector.broadcast(S, a[a3 + i]);
                    c00 = w0.fma(x0, c00); c01 = w1.fma(x0, c01);
                    c10 = w0.fma(x1, c10); c11 = w1.fma(x1, c11);
                    c20 = w0.fma(x2, c20); c21 = w1.fma(x2, c21);
                    c30 = w0.fma(x3, c30); c31 = w1.fma(x3, c31);
                }
                int c0 = r * out + o;
                c00.intoArray(c, c0); c01.intoArray(c, c0 + L);
                c10.intoArray(c, c0 + out); c11.intoArray(c, c0 + out + L);
                c20.intoArray(c, c0 + 2 * out); c21.intoArray(c, c0 + 2 * out + L);
                c30.intoArray(c, c0 + 3 * out); c31.intoArray(c, c0 + 3 * out + L);
            }
            for (; o < ob; o += L) {
                FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
                for (int i = 0, w = o; i < in; i++, w += out) {
                    FloatVector w0 = FloatVector.fromArray(S, wt, w);
                    c0 = w0.fma(FloatVector.broadcast(S, a[a0 + i]), c0);
                    c1 = w0.fma(FloatVector.broadcast(S, a[a1 + i]), c1);
                    c2 = w0.fma(FloatVector.broadcast(S, a[a2 + i]), c2);
                    c3 = w0.fma(FloatVector.broadcast(S, a[a3 + i]), c3);
                }
                c0.intoArray(c, r * out + o);
                c1.intoArray(c, (r + 1) * out + o);
                c2.intoArray(c, (r + 2) * out + o);
                c3.intoArray(c, (r + 3) * out + o);
            }
            for (int rr = r; rr < r + 4; rr++) scalarColumns(a, rr, in, wt, out, c, ob);
        }
        for (; r < rows; r++) {
            int a0 = r * in;
            int o = 0;
            for (; o < ob; o += L) {
                FloatVector c0 = FloatVector.zero(S);
                for (int i = 0, w = o; i < in; i++, w += out) c0 = FloatVector.fromArray(S, wt, w).fma(FloatVector.broadcast(S, a[a0 + i]), c0);
                c0.intoArray(c, r * out + o);
            }
            scalarColumns(a, r, in, wt, out, c, ob);
        }
    }

    private static void scalarColumns(float[] a, int r, int in, float[] wt, int out, float[] c, int from) {
        for (int o = from; o < out; o++) {
            float acc = 0f;
            for (int i = 0; i < in; i++) acc += a[r * in + i] * wt[i * out + o];
            c[r * out + o] = acc;
        }
    }

    @Override
    public void scoresT(float[] q, int qOff, int hs, float[] kt, int ktOff, int stride, int n, float scale, float[] out) {
        int nb = S.loopBound(n);
        int s = 0;
        for (; s < nb; s += L) {
            FloatVector acc = FloatVector.zero(S);
            for (int d = 0; d < hs; d++) acc = FloatVector.fromArray(S, kt, ktOff + d * stride + s).fma(FloatVector.broadcast(S, q[qOff + d]), acc);
            acc.mul(scale).intoArray(out, s);
        }
        for (; s < n; s++) {
            float acc = 0f;
            for (int d = 0; d < hs; d++) acc += q[qOff + d] * kt[ktOff + d * stride + s];
            out[s] = acc * scale;
        }
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int nb = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < nb; i += L) acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    @Override
    public float max(float[] x, int off, int n) {
        int nb = S.loopBound(n);
        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i < nb; i += L) m = m.max(FloatVector.fromArray(S, x, off + i));
        float best = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) best = Math.max(best, x[off + i]);
        return best;
    }

    @Override
    public float expInPlace(float[] x, int off, int n, float shift) {
        int nb = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < nb; i += L) {
            FloatVector e = FloatVector.fromArray(S, x, off + i).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(x, off + i);
            acc = acc.add(e);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            x[off + i] = (float) Math.exp(x[off + i] - shift);
            sum += x[off + i];
        }
        return sum;
    }

    @Override
    public float sumExp(float[] x, int off, int n, float shift) {
        int nb = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < nb; i += L) acc = acc.add(FloatVector.fromArray(S, x, off + i).sub(shift).lanewise(VectorOperators.EXP));
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += (float) Math.exp(x[off + i] - shift);
        return sum;
    }

    @Override
    public void swiglu(float[] gate, float[] up, int n) {
        int nb = S.loopBound(n);
        int i = 0;
        for (; i < nb; i += L) {
            FloatVector g = FloatVector.fromArray(S, gate, i);
            FloatVector silu = g.div(g.neg().lanewise(VectorOperators.EXP).add(1f));
            silu.mul(FloatVector.fromArray(S, up, i)).intoArray(gate, i);
        }
        for (; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }
}
