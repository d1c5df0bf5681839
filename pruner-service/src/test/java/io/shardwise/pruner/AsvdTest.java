package io.shardwise.pruner;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AsvdTest {

    /** T tokens of in channels; every 8th channel carries activations 20x larger (the outlier channels ASVD targets). */
    static float[] activations(int T, int in, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[T * in];
        for (int t = 0; t < T; t++) for (int j = 0; j < in; j++) x[t * in + j] = (float) (r.nextGaussian() * (j % 8 == 0 ? 20 : 1));
        return x;
    }

    static double[] meanAbs(float[] x, int T, int in) {
        double[] m = new double[in];
        for (int t = 0; t < T; t++) for (int j = 0; j < in; j++) m[j] += Math.abs(x[t * in + j]) / T;
        return m;
    }

    /** sum_t ||(W - W') x_t||^2. */
    static double outputError(float[] w, float[] approx, int out, int in, float[] x, int T) {
        double e = 0;
        for (int t = 0; t < T; t++) {
            for (int o = 0; o < out; o++) {
                double d = 0;
                for (int j = 0; j < in; j++) d += ((double) w[o * in + j] - approx[o * in + j]) * x[t * in + j];
                e += d * d;
            }
        }
        return e;
    }

    @Test
    void atTheSameRankAsvdHasTheSmallerOutputErrorAndSvdTheSmallerWeightError() {
        int out = 48, in = 64, T = 256;
        float[] w = TruncatedSvdTest.gaussian(out * in, 11);
        float[] x = activations(T, in, 12);
        double[] m = meanAbs(x, T, in);
        for (int r : new int[]{4, 12, 24}) {
            RankSelection rule = new RankSelection.Fixed(r);
            LowRankFactors svd = TruncatedSvd.factorize(w, out, in, rule);
            LowRankFactors asvd = Asvd.factorize(w, out, in, m, Asvd.DEFAULT_ALPHA, rule);
            assertEquals(r, asvd.rank());
            double eSvd = outputError(w, svd.product(), out, in, x, T), eAsvd = outputError(w, asvd.product(), out, in, x, T);
            System.out.printf("rank %d: output error svd %.1f asvd %.1f%n", r, eSvd, eAsvd);
            assertTrue(eAsvd < 0.8 * eSvd, "rank " + r + ": asvd " + eAsvd + " vs svd " + eSvd);
            assertTrue(TruncatedSvdTest.squaredError(w, svd.product()) <= TruncatedSvdTest.squaredError(w, asvd.product()), "Eckart-Young: SVD is the best in weight space");
        }
    }

    @Test
    void scaledTruncationErrorIsTheTailOfTheScaledSpectrum() {
        int out = 20, in = 30;
        float[] w = TruncatedSvdTest.gaussian(out * in, 13);
        double[] m = meanAbs(activations(64, in, 14), 64, in);
        LowRankFactors f = Asvd.factorize(w, out, in, m, 0.5, new RankSelection.Fixed(7));
        double[] s = Asvd.scales(m, 0.5);
        float[] p = f.product();
        double e = 0;
        for (int o = 0; o < out; o++) for (int j = 0; j < in; j++) e += Math.pow((w[o * in + j] - p[o * in + j]) * s[j], 2);
        assertEquals(f.tailEnergy(), e, 1e-5 * f.tailEnergy(), "||(W - BA) S||^2 = sum_{i>r} sigma_i(WS)^2");
    }

    @Test
    void theAlphaSearchIsNoWorseOnItsSampleThanAnyAlphaOfItsGridAndMeasuresTheOutputError() {
        int out = 32, in = 48, T = 128;
        float[] w = TruncatedSvdTest.gaussian(out * in, 19);
        float[] x = activations(T, in, 20);
        double[] m = meanAbs(x, T, in);
        RankSelection rule = new RankSelection.Fixed(8);
        double[] grid = {0, 0.25, 0.5, 0.75, 1};
        Asvd.Searched best = Asvd.search(w, out, in, m, grid, rule, x, T);
        for (double a : grid) {
            LowRankFactors f = Asvd.factorize(w, out, in, m, a, rule);
            double e = Asvd.outputError(w, f, x, T);
            assertEquals(outputError(w, f.product(), out, in, x, T), e, 1e-5 * e, "alpha " + a + ": the factored error equals the dense one");
            assertTrue(best.outputError() <= e, "alpha " + a);
        }
        assertTrue(best.alpha() > 0, "with outlier channels some scaling beats plain SVD");
        var e = assertThrows(IllegalArgumentException.class, () -> AsvdTechnique.alphas(java.util.Map.of("alpha_grid", "1")));
        assertEquals("asvd: params.alpha_grid 1 is not 0 (off) or in [2, 21]", e.getMessage());
        assertArrayEquals(new double[]{0, 0.5, 1}, AsvdTechnique.alphas(java.util.Map.of("alpha_grid", "3")));
        assertArrayEquals(new double[]{0.3}, AsvdTechnique.alphas(java.util.Map.of("alpha", "0.3")));
    }

    @Test
    void alphaZeroIsPlainSvd() {
        int out = 16, in = 24;
        float[] w = TruncatedSvdTest.gaussian(out * in, 15);
        double[] m = meanAbs(activations(32, in, 16), 32, in);
        LowRankFactors a = Asvd.factorize(w, out, in, m, 0, new RankSelection.Fixed(5));
        LowRankFactors b = TruncatedSvd.factorize(w, out, in, new RankSelection.Fixed(5));
        assertArrayEquals(b.product(), a.product(), 1e-5f);
    }

    @Test
    void scalesFollowTheMeanAbsoluteActivationAndADeadChannelIsFloored() {
        double[] s = Asvd.scales(new double[]{1, 4, 16, 0}, 0.5);
        assertEquals(2, s[1] / s[0], 1e-12);
        assertEquals(4, s[2] / s[0], 1e-12);
        assertTrue(s[3] > 0 && Double.isFinite(1 / s[3]), "a channel that never fired keeps a finite inverse");
        double logSum = 0;
        for (double v : s) logSum += Math.log(v);
        assertEquals(0, logSum, 1e-9, "geometric mean 1");
        assertArrayEquals(new double[]{1, 1}, Asvd.scales(new double[]{0, 0}, 0.5));
        float[] w = TruncatedSvdTest.gaussian(12, 17);
        LowRankFactors f = Asvd.factorize(w, 3, 4, new double[]{1, 0, 2, 3}, 0.5, new RankSelection.Fixed(3));
        for (float v : f.a()) assertTrue(Float.isFinite(v));
    }

    @Test
    void badInputIsRefused() {
        float[] w = TruncatedSvdTest.gaussian(12, 18);
        assertThrows(IllegalArgumentException.class, () -> Asvd.factorize(w, 3, 4, new double[3], 0.5, new RankSelection.Fixed(1)));
        assertThrows(IllegalArgumentException.class, () -> Asvd.scales(new double[]{1, 2}, 1.5));
        assertThrows(IllegalArgumentException.class, () -> Asvd.scales(new double[]{1, Double.NaN}, 0.5));
        assertThrows(IllegalArgumentException.class, () -> Asvd.scales(new double[]{1, -1}, 0.5));
    }
}
