package io.shardwise.core.calib;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HessianTest {

    @Test
    void hessianVectorKernelEqualsItsScalarTwinAndTheDefinition() {
        int n = 37, T = 23; // neither a multiple of the lanes nor of the four tokens per pass
        SplittableRandom r = new SplittableRandom(12);
        float[] x = new float[n * T + 5];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        Hessian v = new Hessian(n, 1, true), s = new Hessian(n, 2, false);
        v.add(x, 5, T, n);
        s.add(x, 5, T, n);
        double[] hv = v.matrix(), hs = s.matrix();
        assertArrayEquals(hs, hv, "vector and scalar kernels, same bits");
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int t = 0; t < T; t++) d += (double) x[5 + t * n + i] * x[5 + t * n + j];
                assertEquals(2 * d / T, hv[i * n + j], 1e-4 * (1 + Math.abs(d)), i + "," + j);
            }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> v.add(x, 0, 1, n + 1));
        assertTrue(e.getMessage().contains("width"), e.getMessage());
    }

    @Test
    void theInverseFactorMultipliesBackToTheDampedInverseAndAZeroHessianIsRefused() {
        int n = 5;
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[40 * n];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        Hessian acc = new Hessian(n);
        acc.add(x, 0, 40, n);
        double[] h = acc.matrix();
        Hessian.InverseFactor f = Hessian.upperCholeskyOfInverse("w", h, n, 0.01, 3);
        assertEquals(0.01, f.dampUsed());
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i] / n;
        double[] u = f.upper();
        for (int i = 0; i < n; i++) { // (U^T U)(H + damp) = I
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    double inv = 0;
                    for (int m = 0; m < n; m++) inv += u[m * n + i] * u[m * n + k];
                    s += inv * (h[k * n + j] + (k == j ? 0.01 * mean : 0));
                }
                assertEquals(i == j ? 1 : 0, s, 1e-9, i + "," + j);
            }
        }
        var e = assertThrows(IllegalStateException.class, () -> Hessian.upperCholeskyOfInverse("blk.0.attn_q.weight", new double[n * n], n, 0.01, 3));
        assertTrue(e.getMessage().startsWith("blk.0.attn_q.weight: Hessian is not positive definite"), e.getMessage());
    }
}
