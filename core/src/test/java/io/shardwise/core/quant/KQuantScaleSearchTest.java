package io.shardwise.core.quant;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Vector API scale search against its scalar twin (ggml's make_qx_quants), on random, odd-sized and edge groups. */
class KQuantScaleSearchTest {

    private static final int[] NMAX = {4, 8, 16, 32};
    private static final int[] SIZES = {1, 7, 16, 33};

    private static void assertTwins(String what, float[] x, float[] w, int nmax) {
        int n = x.length;
        byte[] scalarL = new byte[n];
        byte[] vectorL = new byte[n];
        Arrays.fill(scalarL, (byte) 99);
        Arrays.fill(vectorL, (byte) 99);
        float s = KQuantScaleSearch.makeQxQuants(n, nmax, x, 0, scalarL, 0, 1, w, 0);
        float v = KQuantScaleSearch.makeQxQuantsVector(n, nmax, x, 0, vectorL, 0, w, 0, new float[KQuantScaleSearch.vectorScratchLength()]);
        assertEquals(Float.floatToRawIntBits(s), Float.floatToRawIntBits(v), what + ": scale " + s + " vs " + v);
        assertArrayEquals(scalarL, vectorL, what + ": levels");
        for (byte l : vectorL) assertTrue(l >= 0 && l < 2 * nmax, what + ": level " + l + " outside [0, " + 2 * nmax + ")");
    }

    private static float[] squares(float[] x) {
        float[] w = new float[x.length];
        for (int i = 0; i < x.length; i++) w[i] = x[i] * x[i];
        return w;
    }

    @Test
    void randomGroupsMatchTheScalarSearch() {
        Random r = new Random(20261125);
        for (int t = 0; t < 400; t++) {
            int n = SIZES[t % SIZES.length];
            int nmax = NMAX[(t / SIZES.length) % NMAX.length];
            float scale = (float) Math.pow(10, r.nextInt(9) - 6);
            float[] x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian() * scale;
            float[] w = new float[n];
            for (int i = 0; i < n; i++) w[i] = 0.1f + r.nextFloat() * (i % 16 == 0 ? 10 : 1);
            assertTwins("random " + t + " weighted", x, w, nmax);
            assertTwins("random " + t + " x^2", x, squares(x), nmax);
        }
    }

    @Test
    void edgeGroupsMatchTheScalarSearch() {
        float[][] groups = {
                new float[16],                                                      // all zero: levels 0, scale 0
                filled(16, 1e-16f),                                                 // below GROUP_MAX_EPS
                filled(16, 0.5f),                                                   // constant
                filled(16, -3f),                                                    // constant negative
                oneHot(16, 5, 3f),                                                  // one outlier, rest zero
                oneHot(7, 0, -1e-10f),
                ties(16),                                                           // exact x.5 multiples
                ranged(16),                                                         // 1e-5 .. 1e5
                {Float.MIN_VALUE, -Float.MIN_VALUE, 1f, -1f, 0f, -0f, 2f},          // subnormals and signed zeros
        };
        for (int g = 0; g < groups.length; g++) {
            for (int nmax : NMAX) {
                assertTwins("edge " + g + " nmax " + nmax + " x^2", groups[g], squares(groups[g]), nmax);
                assertTwins("edge " + g + " nmax " + nmax + " ones", groups[g], filled(groups[g].length, 1f), nmax);
                float[] zeroWeights = new float[groups[g].length];
                assertTwins("edge " + g + " nmax " + nmax + " zero weights", groups[g], zeroWeights, nmax);
            }
        }
    }

    @Test
    void allZeroGroupGivesZeroScaleAndLevelZero() {
        byte[] L = new byte[16];
        Arrays.fill(L, (byte) 7);
        float[] x = new float[16];
        assertEquals(0f, KQuantScaleSearch.makeQxQuantsVector(16, 32, x, 0, L, 0, x, 0, new float[KQuantScaleSearch.vectorScratchLength()]));
        assertArrayEquals(new byte[16], L);
    }

    @Test
    void plainScaleIsMinusMaxOverNmax() {
        // rmse type 0: d = -max/nmax (as 1/iscale), and the largest magnitude maps to level 0
        float[] x = {0.25f, -1f, 0.5f, 0f};
        byte[] L = new byte[4];
        float d = KQuantScaleSearch.makeQxQuants(4, 4, x, 0, L, 0, 0, null, 0);
        assertEquals(0.25f, d);
        assertArrayEquals(new byte[]{5, 0, 6, 4}, L);
    }

    private static float[] filled(int n, float v) {
        float[] x = new float[n];
        Arrays.fill(x, v);
        return x;
    }

    private static float[] oneHot(int n, int at, float v) {
        float[] x = new float[n];
        x[at] = v;
        return x;
    }

    private static float[] ties(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (i - n / 2) + 0.5f;
        return x;
    }

    private static float[] ranged(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) Math.pow(10, (i % 11) - 5) * (i % 2 == 0 ? 1 : -1);
        return x;
    }
}
