package io.shardwise.core.runtime;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
