package io.shardwise.core.runtime;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** House rule: every vector kernel is checked against its scalar twin, on sizes with and without vector tails. */
class KernelTwinTest {
    private static final Kernels V = VectorKernels.INSTANCE, S = ScalarKernels.INSTANCE;
    private final SplittableRandom rnd = new SplittableRandom(7);

    private float[] random(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextDouble() * 2 - 1);
        return a;
    }

    private static void assertClose(float[] want, float[] got, int n, double tol) {
        for (int i = 0; i < n; i++) assertEquals(want[i], got[i], tol * Math.max(1, Math.abs(want[i])), "element " + i);
    }

    @Test
    void matmulMatchesScalarOnAllTileShapes() {
        int[][] shapes = {{1, 64, 64}, {4, 64, 32}, {7, 64, 176}, {13, 172, 64}, {5, 33, 47}, {9, 16, 512}, {3, 5, 3}};
        for (int[] sh : shapes) {
            int rows = sh[0], in = sh[1], out = sh[2];
            float[] a = random(rows * in), w = random(in * out);
            float[] want = new float[rows * out], got = new float[rows * out];
            S.matmul(a, rows, in, w, out, want);
            V.matmul(a, rows, in, w, out, got);
            assertClose(want, got, want.length, 1e-4);
        }
    }

    @Test
    void stridedGemmMatchesScalar() {
        // attention scores: 1..9 query rows (stride 40) against keys stored transposed (stride 70), odd offsets
        float[] q = random(9 * 40 + 8), kt = random(8 * 70 + 40);
        for (int rows : new int[]{1, 3, 4, 9}) {
            for (int n : new int[]{1, 15, 16, 17, 33, 64, 70}) {
                float[] want = new float[rows * 80 + 5], got = new float[rows * 80 + 5];
                S.gemm(q, 3, 40, rows, 8, kt, 40, 70, n, want, 5, 80);
                V.gemm(q, 3, 40, rows, 8, kt, 40, 70, n, got, 5, 80);
                assertClose(want, got, want.length, 1e-5);
            }
        }
    }

    @Test
    void weightedSumMatchesScalar() {
        float[] p = random(9 * 72), vt = random(12 * 72 + 10);
        for (int hs : new int[]{8, 12, 6}) {
            for (int rows : new int[]{1, 4, 5, 9}) {
                for (int n : new int[]{1, 16, 31, 64, 72}) {
                    float[] want = new float[rows * 20 + 3], got = new float[rows * 20 + 3];
                    S.weightedSumT(p, 72, rows, n, vt, 10, 72, hs, want, 3, 20);
                    V.weightedSumT(p, 72, rows, n, vt, 10, 72, hs, got, 3, 20);
                    assertClose(want, got, want.length, 1e-4);
                }
            }
        }
    }

    @Test
    void reductionsAndExpMatchScalar() {
        float[] x = random(100);
        for (int n : new int[]{1, 15, 16, 17, 63, 90}) {
            assertEquals(S.dot(x, 3, x, 9, n), V.dot(x, 3, x, 9, n), 1e-4);
            assertEquals(S.max(x, 5, n), V.max(x, 5, n));
            assertEquals(S.sumExp(x, 5, n, 0.5f), V.sumExp(x, 5, n, 0.5f), 1e-5 * n);
            float[] a = x.clone(), b = x.clone();
            assertEquals(S.expInPlace(a, 2, n, 1.5f), V.expInPlace(b, 2, n, 1.5f), 1e-5 * n);
            assertClose(a, b, a.length, 1e-6);
        }
        // masked attention entries are -inf and must weigh exactly zero in both
        float[] masked = {1f, 2f, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, 0.5f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f};
        for (int i = 5; i < 16; i++) masked[i] = Float.NEGATIVE_INFINITY;
        float[] a = masked.clone(), b = masked.clone();
        assertEquals(S.expInPlace(a, 0, 16, 2f), V.expInPlace(b, 0, 16, 2f), 1e-6);
        for (int i : new int[]{2, 3, 5, 15}) {
            assertEquals(0f, a[i]);
            assertEquals(0f, b[i]);
        }
    }

    @Test
    void swigluMatchesScalar() {
        for (int n : new int[]{1, 16, 176, 181}) {
            float[] g = random(n), u = random(n);
            for (int i = 0; i < n; i++) g[i] *= 8; // reach the saturating ends of the sigmoid
            float[] a = g.clone(), b = g.clone();
            S.swiglu(a, u, n);
            V.swiglu(b, u, n);
            assertClose(a, b, n, 1e-6);
        }
    }

    @Test
    void rmsnormMatchesScalarAndTheDefinition() {
        for (int n : new int[]{1, 15, 16, 17, 64, 288}) {
            float[] x = random(n + 3), w = random(n);
            float[] a = new float[n + 2], b = new float[n + 2];
            S.rmsnorm(x, 3, w, a, 2, n, 1e-5f);
            V.rmsnorm(x, 3, w, b, 2, n, 1e-5f);
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double) x[3 + i] * x[3 + i];
            double inv = 1 / Math.sqrt(ss / n + 1e-5);
            for (int i = 0; i < n; i++) {
                assertEquals(w[i] * inv * x[3 + i], a[2 + i], 1e-5, "scalar element " + i);
                assertEquals(a[2 + i], b[2 + i], 1e-6, "vector element " + i);
            }
            float[] in = x.clone();
            V.rmsnorm(in, 3, w, in, 3, n, 1e-5f); // in place
            for (int i = 0; i < n; i++) assertEquals(b[2 + i], in[3 + i], "in place element " + i);
        }
        float[] zeros = new float[32], w = random(32), out = new float[32];
        V.rmsnorm(zeros, 0, w, out, 0, 32, 1e-6f); // eps keeps a zero row finite
        for (float o : out) assertEquals(0.0, o, 0.0);
    }

    @Test
    void softmaxMatchesScalarSumsToOneAndIgnoresMaskedEntries() {
        for (int n : new int[]{1, 15, 16, 17, 100, 512}) {
            float[] x = random(n + 4);
            for (int i = 0; i < x.length; i++) x[i] *= 30; // large logits: the max shift must keep exp finite
            x[4 + n / 2] = Float.NEGATIVE_INFINITY;
            if (n == 1) x[4] = 5f;
            float[] a = x.clone(), b = x.clone();
            S.softmax(a, 4, n);
            V.softmax(b, 4, n);
            double sum = 0;
            for (int i = 4; i < 4 + n; i++) sum += b[i];
            assertEquals(1.0, sum, 1e-5, "n=" + n);
            assertClose(a, b, a.length, 1e-6);
            if (n > 1) assertEquals(0f, b[4 + n / 2]);
            for (int i = 0; i < 4; i++) assertEquals(x[i], b[i], "outside the range");
        }
    }

    @Test
    void ropeMatchesScalarExactlyInBothLayouts() {
        for (int headSize : new int[]{2, 8, 16, 32, 48, 64, 128}) {
            int heads = 3, n = heads * headSize, half = headSize / 2;
            float[] cos = new float[half + 5], sin = new float[half + 5];
            for (int j = 0; j < half + 5; j++) {
                double angle = 7 * Math.pow(10000, -2.0 * j / headSize);
                cos[j] = (float) Math.cos(angle);
                sin[j] = (float) Math.sin(angle);
            }
            for (boolean neox : new boolean[]{false, true}) {
                float[] v = random(n + 6), a = v.clone(), b = v.clone();
                S.rope(a, 6, n, headSize, cos, sin, 5, neox);
                V.rope(b, 6, n, headSize, cos, sin, 5, neox);
                assertArrayEquals(a, b, "headSize " + headSize + " neox " + neox);
                // the definition, on one pair of the last head
                int j = half - 1, h = 6 + 2 * headSize;
                int i0 = neox ? h + j : h + 2 * j, i1 = neox ? i0 + half : i0 + 1;
                assertEquals(v[i0] * cos[5 + j] - v[i1] * sin[5 + j], a[i0], 1e-6);
                assertEquals(v[i0] * sin[5 + j] + v[i1] * cos[5 + j], a[i1], 1e-6);
                for (int i = 0; i < 6; i++) assertEquals(v[i], b[i]);
                // rotation keeps each pair's length
                double before = (double) v[i0] * v[i0] + (double) v[i1] * v[i1], after = (double) b[i0] * b[i0] + (double) b[i1] * b[i1];
                assertEquals(before, after, 1e-5);
            }
        }
    }

    @Test
    void halfAndBfloatDecodeMatchScalarOnEveryBitPattern() {
        java.lang.foreign.MemorySegment all = java.lang.foreign.MemorySegment.ofArray(new byte[2 * 65536 + 2]);
        for (int h = 0; h < 65536; h++) all.set(WeightRows.I16, 2L + 2L * h, (short) h);
        float[] a = new float[65536], b = new float[65536];
        for (boolean bf : new boolean[]{false, true}) {
            // odd offsets and lengths leave scalar tails
            if (bf) {
                S.decodeBF16(all, 2, a, 0, 65535);
                V.decodeBF16(all, 2, b, 0, 65535);
            } else {
                S.decodeF16(all, 2, a, 0, 65535);
                V.decodeF16(all, 2, b, 0, 65535);
            }
            for (int i = 0; i < 65535; i++) {
                if (Float.isNaN(a[i])) assertTrue(Float.isNaN(b[i]), "pattern " + Integer.toHexString(i));
                else assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), "pattern " + Integer.toHexString(i));
            }
        }
        assertEquals(1f, a[0x3f80]);
        S.decodeF16(all, 2 + 2 * 0x3c00, a, 0, 1);
        assertEquals(1f, a[0]);
    }
}
