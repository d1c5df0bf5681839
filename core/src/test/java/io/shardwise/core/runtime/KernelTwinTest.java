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
    void attentionKernelsMatchScalar() {
        int hs = 8, stride = 70;
        float[] q = random(80), kt = random(hs * stride + 40);
        for (int n : new int[]{1, 15, 16, 17, 63, 70}) {
            float[] want = new float[n], got = new float[n];
            S.scoresT(q, 8, hs, kt, 40, stride, n, 0.35f, want);
            V.scoresT(q, 8, hs, kt, 40, stride, n, 0.35f, got);
            assertClose(want, got, n, 1e-5);
            assertEquals(S.dot(q, 3, kt, 11, n), V.dot(q, 3, kt, 11, n), 1e-4);
            assertEquals(S.max(kt, 5, n), V.max(kt, 5, n));
            assertEquals(S.sumExp(kt, 5, n, 0.5f), V.sumExp(kt, 5, n, 0.5f), 1e-5 * n);
            float[] a = kt.clone(), b = kt.clone();
            assertEquals(S.expInPlace(a, 2, n, 1.5f), V.expInPlace(b, 2, n, 1.5f), 1e-5 * n);
            assertClose(a, b, a.length, 1e-6);
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
