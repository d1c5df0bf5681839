package io.shardwise.pruner;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TruncatedSvdTest {

    static float[] gaussian(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    static double squaredError(float[] w, float[] approx) {
        double e = 0;
        for (int i = 0; i < w.length; i++) e += ((double) w[i] - approx[i]) * ((double) w[i] - approx[i]);
        return e;
    }

    static double squaredNorm(float[] w) {
        double e = 0;
        for (float v : w) e += (double) v * v;
        return e;
    }

    @Test
    void truncationErrorIsTheTailEnergyAtEveryRank() {
        int out = 48, in = 80;
        float[] w = gaussian(out * in, 1);
        TruncatedSvd.Spectrum s = TruncatedSvd.decompose(TruncatedSvd.toDouble(w), out, in);
        assertEquals(48, s.k());
        double energy = 0;
        for (int i = 0; i < s.k(); i++) {
            energy += s.sigma()[i] * s.sigma()[i];
            if (i > 0) assertTrue(s.sigma()[i] <= s.sigma()[i - 1], "descending");
        }
        assertEquals(squaredNorm(w), energy, 1e-9 * energy, "sum sigma^2 = ||W||_F^2");
        for (int r : new int[]{1, 5, 16, 47, 48}) {
            LowRankFactors f = s.truncate(r);
            double err = squaredError(w, f.product());
            assertEquals(f.tailEnergy(), err, 1e-5 * energy, "rank " + r + ": ||W - BA||^2 = sum_{i>r} sigma_i^2 (Eckart-Young)");
        }
        assertEquals(0, s.truncate(48).tailEnergy());
    }

    @Test
    void noOtherRankRApproximationTriedIsBetter() {
        int out = 32, in = 24, r = 6;
        float[] w = gaussian(out * in, 2);
        LowRankFactors best = TruncatedSvd.factorize(w, out, in, new RankSelection.Fixed(r));
        double bestErr = squaredError(w, best.product());
        // least-squares B for random A of the same rank (the best B for that A) still loses to the SVD's
        for (long seed = 10; seed < 20; seed++) {
            float[] a = gaussian(r * in, seed);
            float[] approx = projectRows(w, out, in, a, r);
            assertTrue(squaredError(w, approx) > bestErr, "seed " + seed);
        }
    }

    /** Each row of W projected onto the row space of A (r x in): the best approximation with rows in span(A). */
    private static float[] projectRows(float[] w, int out, int in, float[] a, int r) {
        org.ejml.simple.SimpleMatrix am = new org.ejml.simple.SimpleMatrix(r, in);
        for (int i = 0; i < r; i++) for (int j = 0; j < in; j++) am.set(i, j, a[i * in + j]);
        org.ejml.simple.SimpleMatrix wm = new org.ejml.simple.SimpleMatrix(out, in);
        for (int i = 0; i < out; i++) for (int j = 0; j < in; j++) wm.set(i, j, w[i * in + j]);
        org.ejml.simple.SimpleMatrix p = am.transpose().mult(am.mult(am.transpose()).invert()).mult(am);
        org.ejml.simple.SimpleMatrix proj = wm.mult(p);
        float[] outv = new float[out * in];
        for (int i = 0; i < out; i++) for (int j = 0; j < in; j++) outv[i * in + j] = (float) proj.get(i, j);
        return outv;
    }

    @Test
    void anExactlyLowRankMatrixIsRecoveredAndTheFactorsHaveTheRuntimeShapes() {
        int out = 40, in = 30, r = 3;
        float[] b0 = gaussian(out * r, 3), a0 = gaussian(r * in, 4);
        float[] w = new LowRankFactors(out, in, r, a0, b0, new double[r]).product();
        LowRankFactors f = TruncatedSvd.factorize(w, out, in, new RankSelection.Energy(0.999999));
        assertEquals(3, f.rank(), "energy picks exactly the true rank");
        assertEquals(r * in, f.a().length);
        assertEquals(out * r, f.b().length);
        assertEquals(0, squaredError(w, f.product()), 1e-8 * squaredNorm(w));
        // A = Sigma^1/2 V^T, B = U Sigma^1/2: both factors' rows/columns carry sqrt(sigma) each
        for (int k = 0; k < r; k++) {
            double an = 0, bn = 0;
            for (int i = 0; i < in; i++) an += f.a()[k * in + i] * (double) f.a()[k * in + i];
            for (int o = 0; o < out; o++) bn += f.b()[o * r + k] * (double) f.b()[o * r + k];
            assertEquals(f.sigma()[k], an, 1e-4 * f.sigma()[k], "||A_k||^2 = sigma_k");
            assertEquals(f.sigma()[k], bn, 1e-4 * f.sigma()[k], "||B_k||^2 = sigma_k");
        }
    }

    @Test
    void rankRulesPickTheDocumentedRank() {
        double[] sigma = {4, 3, 2, 1}; // energies 16, 9, 4, 1 of 30
        assertEquals(1, new RankSelection.Energy(0.5).rank(sigma, 10, 10));
        assertEquals(2, new RankSelection.Energy(25 / 30.0).rank(sigma, 10, 10), "exactly at the threshold");
        assertEquals(3, new RankSelection.Energy(0.84).rank(sigma, 10, 10));
        assertEquals(4, new RankSelection.Energy(1.0).rank(sigma, 10, 10));
        assertEquals(16, new RankSelection.Budget(0.5).rankFor(64, 64), "16 * 128 = 0.5 * 4096");
        assertEquals(10, new RankSelection.Budget(0.5).rankFor(64, 32), "r * 96 <= 1024");
        assertEquals(23, new RankSelection.Budget(0.5).rankFor(64, 172));
        for (int in : new int[]{7, 64, 172, 4096}) {
            for (int out : new int[]{3, 32, 64, 11008}) {
                for (double b : new double[]{0.05, 0.25, 0.5, 0.99}) {
                    int r = new RankSelection.Budget(b).rankFor(in, out);
                    assertTrue((long) r * (in + out) <= b * in * out + 1e-6, in + "x" + out + " budget " + b);
                    assertTrue((long) (r + 1) * (in + out) > b * in * out, "largest rank within the budget");
                    assertTrue(r < Math.min(in, out));
                }
            }
        }
    }

    @Test
    void stageParametersParseAndBadOnesAreRefusedNamingTheParameter() {
        assertEquals(new RankSelection.Budget(0.5), RankSelection.parse("svd", Map.of()));
        assertEquals(new RankSelection.Fixed(8), RankSelection.parse("svd", Map.of("rank", "8")));
        assertEquals(new RankSelection.Energy(0.9), RankSelection.parse("svd", Map.of("energy", "0.9", "budget", " ")));
        assertEquals(new RankSelection.Budget(0.25), RankSelection.parse("svd", Map.of("budget", "0.25")));
        String[][] bad = {
                {"rank", "0", "params.rank 0"}, {"rank", "eight", "params.rank 'eight'"}, {"rank", "2.5", "params.rank '2.5'"},
                {"energy", "0", "params.energy 0"}, {"energy", "1.5", "params.energy 1.5"}, {"energy", "most", "params.energy 'most'"},
                {"budget", "1", "params.budget 1"}, {"budget", "-0.1", "params.budget -0.1"}, {"budget", "NaN", "params.budget NaN"}};
        for (String[] b : bad) {
            var e = assertThrows(IllegalArgumentException.class, () -> RankSelection.parse("asvd", Map.of(b[0], b[1])), b[1]);
            assertTrue(e.getMessage().startsWith("asvd: ") && e.getMessage().contains(b[2]), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> RankSelection.parse("svd", Map.of("rank", "4", "budget", "0.5")));
        assertTrue(e.getMessage().contains("params.budget") && e.getMessage().contains("only one"), e.getMessage());
    }

    @Test
    void aRankOrBudgetThatDoesNotFitTheLayerIsRefusedNamingTheParameterAndLayer() {
        var e = assertThrows(IllegalArgumentException.class, () -> new RankSelection.Fixed(33).check("svd", "blk.0.attn_k.weight", 64, 32));
        assertEquals("svd: params.rank 33 is larger than the rank of blk.0.attn_k.weight (32 x 64, at most 32)", e.getMessage());
        new RankSelection.Fixed(32).check("svd", "blk.0.attn_k.weight", 64, 32);
        e = assertThrows(IllegalArgumentException.class, () -> new RankSelection.Budget(0.01).check("svd", "blk.0.attn_k.weight", 64, 32));
        assertTrue(e.getMessage().startsWith("svd: params.budget 0.01 leaves rank 0 for blk.0.attn_k.weight"), e.getMessage());
        new RankSelection.Budget(0.05).check("svd", "blk.0.attn_k.weight", 64, 32);
    }

    @Test
    void nonFiniteOrMisshapenMatricesAreRefused() {
        float[] w = gaussian(12, 5);
        assertThrows(IllegalArgumentException.class, () -> TruncatedSvd.factorize(w, 5, 3, new RankSelection.Fixed(1)));
        w[3] = Float.NaN;
        var e = assertThrows(IllegalArgumentException.class, () -> TruncatedSvd.factorize(w, 4, 3, new RankSelection.Fixed(1)));
        assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
    }

    @Test
    void aZeroMatrixFactorsToZero() {
        LowRankFactors f = TruncatedSvd.factorize(new float[6 * 4], 6, 4, new RankSelection.Energy(0.9));
        assertEquals(1, f.rank());
        assertArrayEquals(new float[24], f.product());
    }
}
