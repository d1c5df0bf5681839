package io.shardwise.core.runtime;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

/**
 * Vector API kernels (the preferred species, 16 floats with AVX-512); {@link ScalarKernels} is the twin.
 * Tails shorter than a vector run scalar, so any size is correct; the runtime pads hot sizes to 16.
 */
public final class VectorKernels implements Kernels {
    public static final VectorKernels INSTANCE = new VectorKernels();
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Interleaved RoPE: lanes (2j, 2j+1) swapped, and the j-th angle spread over both lanes of pair j (low and high half of a vector of angles). */
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(S, i -> i ^ 1);
    private static final VectorShuffle<Float> SPREAD_LO = VectorShuffle.fromOp(S, i -> i / 2);
    private static final VectorShuffle<Float> SPREAD_HI = VectorShuffle.fromOp(S, i -> L / 2 + i / 2);
    /** -1 on even lanes: the rotation's minus sign lands on the pair's first value. */
    private static final FloatVector ALTERNATE_SIGN = FloatVector.fromArray(S, alternateSigns(), 0);

    private VectorKernels() {
    }

    @Override
    public void gemm(float[] a, int aOff, int lda, int rows, int k, float[] b, int bOff, int ldb, int n, float[] c, int cOff, int ldc) {
        int nb = S.loopBound(n);
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            int a0 = aOff + r * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
            int c0 = cOff + r * ldc;
            int j = 0;
            // 4 rows x 2 vectors of outputs: each load of b feeds four FMAs
            for (; j + 2 * L <= nb; j += 2 * L) {
                FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
                for (int i = 0, w = bOff + j; i < k; i++, w += ldb) {
                    FloatVector w0 = FloatVector.fromArray(S, b, w), w1 = FloatVector.fromArray(S, b, w + L);
                    FloatVector x0 = FloatVector.broadcast(S, a[a0 + i]), x1 = FloatVector.broadcast(S, a[a1 + i]);
                    FloatVector x2 = FloatVector.broadcast(S, a[a2 + i]), x3 = FloatVector.broadcast(S, a[a3 + i]);
                    c00 = w0.fma(x0, c00); c01 = w1.fma(x0, c01);
                    c10 = w0.fma(x1, c10); c11 = w1.fma(x1, c11);
                    c20 = w0.fma(x2, c20); c21 = w1.fma(x2, c21);
                    c30 = w0.fma(x3, c30); c31 = w1.fma(x3, c31);
                }
                int o = c0 + j;
                c00.intoArray(c, o); c01.intoArray(c, o + L);
                c10.intoArray(c, o + ldc); c11.intoArray(c, o + ldc + L);
                c20.intoArray(c, o + 2 * ldc); c21.intoArray(c, o + 2 * ldc + L);
                c30.intoArray(c, o + 3 * ldc); c31.intoArray(c, o + 3 * ldc + L);
            }
            for (; j < nb; j += L) {
                FloatVector x0 = FloatVector.zero(S), x1 = x0, x2 = x0, x3 = x0;
                for (int i = 0, w = bOff + j; i < k; i++, w += ldb) {
                    FloatVector w0 = FloatVector.fromArray(S, b, w);
                    x0 = w0.fma(FloatVector.broadcast(S, a[a0 + i]), x0);
                    x1 = w0.fma(FloatVector.broadcast(S, a[a1 + i]), x1);
                    x2 = w0.fma(FloatVector.broadcast(S, a[a2 + i]), x2);
                    x3 = w0.fma(FloatVector.broadcast(S, a[a3 + i]), x3);
                }
                x0.intoArray(c, c0 + j);
                x1.intoArray(c, c0 + ldc + j);
                x2.intoArray(c, c0 + 2 * ldc + j);
                x3.intoArray(c, c0 + 3 * ldc + j);
            }
            for (int rr = 0; rr < 4; rr++) scalarColumns(a, a0 + rr * lda, k, b, bOff, ldb, nb, n, c, c0 + rr * ldc);
        }
        for (; r < rows; r++) {
            int a0 = aOff + r * lda, c0 = cOff + r * ldc;
            for (int j = 0; j < nb; j += L) {
                FloatVector x0 = FloatVector.zero(S);
                for (int i = 0, w = bOff + j; i < k; i++, w += ldb) x0 = FloatVector.fromArray(S, b, w).fma(FloatVector.broadcast(S, a[a0 + i]), x0);
                x0.intoArray(c, c0 + j);
            }
            scalarColumns(a, a0, k, b, bOff, ldb, nb, n, c, c0);
        }
    }

    /** Output columns [from, n) of one row, for widths that are not a whole vector. */
    private static void scalarColumns(float[] a, int a0, int k, float[] b, int bOff, int ldb, int from, int n, float[] c, int c0) {
        for (int j = from; j < n; j++) {
            float acc = 0f;
            for (int i = 0; i < k; i++) acc += a[a0 + i] * b[bOff + i * ldb + j];
            c[c0 + j] = acc;
        }
    }

    @Override
    public void weightedSumT(float[] p, int ldp, int rows, int n, float[] vt, int vtOff, int ldv, int hs, float[] out, int outOff, int ldo) {
        int nb = S.loopBound(n);
        int r = 0;
        if (hs % 4 == 0) {
            // 4 rows x 4 value dims per pass: each load of p or v feeds four FMAs
            for (; r + 4 <= rows; r += 4) {
                int p0 = r * ldp, p1 = p0 + ldp, p2 = p1 + ldp, p3 = p2 + ldp;
                for (int d = 0; d < hs; d += 4) {
                    int v0 = vtOff + d * ldv, v1 = v0 + ldv, v2 = v1 + ldv, v3 = v2 + ldv;
                    FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
                    FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
                    for (int s = 0; s < nb; s += L) {
                        FloatVector x0 = FloatVector.fromArray(S, p, p0 + s), x1 = FloatVector.fromArray(S, p, p1 + s);
                        FloatVector x2 = FloatVector.fromArray(S, p, p2 + s), x3 = FloatVector.fromArray(S, p, p3 + s);
                        FloatVector w = FloatVector.fromArray(S, vt, v0 + s);
                        a00 = x0.fma(w, a00); a10 = x1.fma(w, a10); a20 = x2.fma(w, a20); a30 = x3.fma(w, a30);
                        w = FloatVector.fromArray(S, vt, v1 + s);
                        a01 = x0.fma(w, a01); a11 = x1.fma(w, a11); a21 = x2.fma(w, a21); a31 = x3.fma(w, a31);
                        w = FloatVector.fromArray(S, vt, v2 + s);
                        a02 = x0.fma(w, a02); a12 = x1.fma(w, a12); a22 = x2.fma(w, a22); a32 = x3.fma(w, a32);
                        w = FloatVector.fromArray(S, vt, v3 + s);
                        a03 = x0.fma(w, a03); a13 = x1.fma(w, a13); a23 = x2.fma(w, a23); a33 = x3.fma(w, a33);
                    }
                    int o = outOff + r * ldo + d;
                    out[o] = finish(a00, p, p0, vt, v0, nb, n); out[o + 1] = finish(a01, p, p0, vt, v1, nb, n);
                    out[o + 2] = finish(a02, p, p0, vt, v2, nb, n); out[o + 3] = finish(a03, p, p0, vt, v3, nb, n);
                    o += ldo;
                    out[o] = finish(a10, p, p1, vt, v0, nb, n); out[o + 1] = finish(a11, p, p1, vt, v1, nb, n);
                    out[o + 2] = finish(a12, p, p1, vt, v2, nb, n); out[o + 3] = finish(a13, p, p1, vt, v3, nb, n);
                    o += ldo;
                    out[o] = finish(a20, p, p2, vt, v0, nb, n); out[o + 1] = finish(a21, p, p2, vt, v1, nb, n);
                    out[o + 2] = finish(a22, p, p2, vt, v2, nb, n); out[o + 3] = finish(a23, p, p2, vt, v3, nb, n);
                    o += ldo;
                    out[o] = finish(a30, p, p3, vt, v0, nb, n); out[o + 1] = finish(a31, p, p3, vt, v1, nb, n);
                    out[o + 2] = finish(a32, p, p3, vt, v2, nb, n); out[o + 3] = finish(a33, p, p3, vt, v3, nb, n);
                }
            }
        }
        for (; r < rows; r++) {
            for (int d = 0; d < hs; d++) out[outOff + r * ldo + d] = dot(p, r * ldp, vt, vtOff + d * ldv, n);
        }
    }

    /** A dot product's vector accumulator reduced, plus its scalar tail [from, n). */
    private static float finish(FloatVector acc, float[] p, int pOff, float[] v, int vOff, int from, int n) {
        float sum = sumLanes(acc);
        for (int s = from; s < n; s++) sum += p[pOff + s] * v[vOff + s];
        return sum;
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        int nb = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < nb; i += L) acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
        float sum = sumLanes(acc);
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
        // Math.exp per element: the Vector API's EXP differs in the last bit between interpreted and compiled code
        for (int i = off; i < off + n; i++) x[i] = (float) Math.exp(x[i] - shift);
        return sum(x, off, n);
    }

    @Override
    public float sumExp(float[] x, int off, int n, float shift) {
        float sum = 0f;
        for (int i = off; i < off + n; i++) sum += (float) Math.exp(x[i] - shift);
        return sum;
    }

    /** Sum of x[off, off + n) in lanes, reduced in a fixed order. */
    private static float sum(float[] x, int off, int n) {
        int nb = S.loopBound(n);
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i < nb; i += L) acc = acc.add(FloatVector.fromArray(S, x, off + i));
        float sum = sumLanes(acc);
        for (; i < n; i++) sum += x[off + i];
        return sum;
    }

    /**
     * The lanes' sum, first lane to last. reduceLanes(ADD) is not used: C2 reduces in a tree and the interpreter
     * in lane order, so the same input would give different bits before and after the JIT compiles a kernel.
     */
    static float sumLanes(FloatVector v) {
        float[] lanes = v.toArray();
        float sum = 0f;
        for (float f : lanes) sum += f;
        return sum;
    }

    @Override
    public void swiglu(float[] gate, float[] up, int n) {
        // scalar on purpose: Math.exp gives the same bits in every JIT tier, the Vector API's EXP does not
        ScalarKernels.INSTANCE.swiglu(gate, up, n);
    }

    @Override
    public void rmsnorm(float[] x, int xOff, float[] weight, float[] out, int outOff, int n, float eps) {
        float inv = (float) (1.0 / Math.sqrt(dot(x, xOff, x, xOff, n) / n + eps));
        int nb = S.loopBound(n), i = 0;
        for (; i < nb; i += L) {
            FloatVector.fromArray(S, weight, i).mul(FloatVector.fromArray(S, x, xOff + i).mul(inv)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = weight[i] * (inv * x[xOff + i]);
    }

    @Override
    public void softmax(float[] x, int off, int n) {
        float inv = 1f / expInPlace(x, off, n, max(x, off, n));
        int nb = S.loopBound(n), i = 0;
        for (; i < nb; i += L) FloatVector.fromArray(S, x, off + i).mul(inv).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] *= inv;
    }

    @Override
    public void rope(float[] v, int off, int n, int headSize, float[] cos, float[] sin, int csOff, boolean neox) {
        int half = headSize / 2;
        for (int h = off; h < off + n; h += headSize) {
            int j = 0;
            if (neox) {
                for (; j + L <= half; j += L) {
                    FloatVector c = FloatVector.fromArray(S, cos, csOff + j), s = FloatVector.fromArray(S, sin, csOff + j);
                    FloatVector v0 = FloatVector.fromArray(S, v, h + j), v1 = FloatVector.fromArray(S, v, h + half + j);
                    v0.mul(c).sub(v1.mul(s)).intoArray(v, h + j);
                    v0.mul(s).add(v1.mul(c)).intoArray(v, h + half + j);
                }
            } else {
                // L angles rotate 2L values: two vectors of interleaved pairs
                for (; j + L <= half; j += L) {
                    FloatVector c = FloatVector.fromArray(S, cos, csOff + j), s = FloatVector.fromArray(S, sin, csOff + j);
                    rotatePairs(v, h + 2 * j, c.rearrange(SPREAD_LO), s.rearrange(SPREAD_LO).mul(ALTERNATE_SIGN));
                    rotatePairs(v, h + 2 * j + L, c.rearrange(SPREAD_HI), s.rearrange(SPREAD_HI).mul(ALTERNATE_SIGN));
                }
            }
            for (; j < half; j++) {
                int i0 = neox ? h + j : h + 2 * j, i1 = neox ? i0 + half : i0 + 1;
                float c = cos[csOff + j], s = sin[csOff + j], v0 = v[i0], v1 = v[i1];
                v[i0] = v0 * c - v1 * s;
                v[i1] = v0 * s + v1 * c;
            }
        }
    }

    /** (v0, v1) -> (v0 c - v1 s, v1 c + v0 s) on every pair: v * c + swap(v) * (-s, s). */
    private static void rotatePairs(float[] v, int at, FloatVector c, FloatVector signedS) {
        FloatVector x = FloatVector.fromArray(S, v, at);
        x.mul(c).add(x.rearrange(SWAP_PAIRS).mul(signedS)).intoArray(v, at);
    }

    private static float[] alternateSigns() {
        float[] s = new float[L];
        for (int i = 0; i < L; i++) s[i] = (i & 1) == 0 ? -1f : 1f;
        return s;
    }

    @Override
    public void decodeF16(MemorySegment src, long at, float[] dst, int dstOff, int n) {
        int nb = S.loopBound(n), i = 0;
        for (; i < nb; i += L) VectorRowKernels.halfsToFloats(src, at + 2L * i).intoArray(dst, dstOff + i);
        for (; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(src.get(WeightRows.I16, at + 2L * i));
    }

    @Override
    public void decodeBF16(MemorySegment src, long at, float[] dst, int dstOff, int n) {
        int nb = S.loopBound(n), i = 0;
        for (; i < nb; i += L) VectorRowKernels.bfloatsToFloats(src, at + 2L * i).intoArray(dst, dstOff + i);
        for (; i < n; i++) dst[dstOff + i] = Float.intBitsToFloat(src.get(WeightRows.I16, at + 2L * i) << 16);
    }
}
