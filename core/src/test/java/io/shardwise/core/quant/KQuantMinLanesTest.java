package io.shardwise.core.quant;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The Vector API search (one sub-block per lane) and requantize against their scalar twins (make_qkx2/qkx3_quants), bit for bit. */
class KQuantMinLanesTest {

    /** Sub-blocks of many shapes: gaussian, zero, constant, all negative, tiny, huge, outliers, ties, NaN, zero weights. */
    static void fill(Random r, int shape, float[] x, float[] w, int off, int n) {
        for (int i = 0; i < n; i++) {
            float g = (float) r.nextGaussian();
            x[off + i] = switch (shape) {
                case 0 -> 0f;
                case 1 -> 0.5f;
                case 2 -> -0.25f;
                case 3 -> -Math.abs(g) * 0.02f;
                case 4 -> g * 1e-30f;
                case 5 -> g * 1e4f;
                case 6 -> i == 5 ? 3f : g * 0.02f;
                case 7 -> (i % 4) * 0.25f - 0.5f;
                case 8 -> i == 3 ? Float.NaN : g;
                case 9 -> Math.abs(g) + 1f;
                default -> g * 0.02f;
            };
            w[off + i] = shape == 10 ? 0f : shape == 11 ? Math.abs(x[off + i]) : 0.1f + r.nextFloat() * (i % 16 == 0 ? 10 : 1);
        }
    }

    @ParameterizedTest(name = "n={0} nmax={1} rmin={2} rdelta={3} nstep={4} mad={5} qkx3={6}")
    @CsvSource({
            "32, 15, -1.0, 0.1, 20, false, false",   // Q4_K reference
            "32, 31, -0.5, 0.1, 15, false, false",   // Q5_K reference
            "16, 3, -0.5, 0.1, 15, true, false",     // Q2_K reference
            "32, 15, -0.9, 0.05, 36, false, true",   // Q4_K importance
            "32, 31, -0.9, 0.05, 36, false, true",   // Q5_K importance
            "16, 3, -0.9, 0.05, 36, false, true",    // Q2_K importance
            "32, 15, -1.0, 0.1, 0, false, false",    // a single step
            "24, 7, -1.0, 0.1, -1, true, true"})     // no steps, odd size
    void lanesMatchScalarSearch(int n, int nmax, float rmin, float rdelta, int nstep, boolean mad, boolean qkx3) {
        Random r = new Random(n * 31L + nmax + nstep);
        int subBlocks = 16;
        KQuantMinLanes lanes = new KQuantMinLanes(n);
        for (int round = 0; round < 10; round++) {
            float[] x = new float[subBlocks * n], w = new float[subBlocks * n];
            for (int j = 0; j < subBlocks; j++) fill(r, r.nextInt(16), x, w, j * n, n);
            byte[] lanesL = new byte[subBlocks * n], scalarL = new byte[subBlocks * n];
            float[] lanesScale = new float[subBlocks], lanesMin = new float[subBlocks];
            float[] scalarScale = new float[subBlocks], scalarMin = new float[subBlocks];
            lanes.search(subBlocks, nmax, x, 0, w, 0, lanesL, 0, lanesScale, lanesMin, rmin, rdelta, nstep, mad, qkx3);
            byte[] laux = new byte[n];
            for (int j = 0; j < subBlocks; j++) {
                scalarScale[j] = qkx3
                        ? KQuantMinSearch.makeQkx3Quants(n, nmax, x, j * n, w, j * n, scalarL, j * n, scalarMin, j, laux, rmin, rdelta, nstep, mad)
                        : KQuantMinSearch.makeQkx2Quants(n, nmax, x, j * n, w, j * n, scalarL, j * n, scalarMin, j, laux, rmin, rdelta, nstep, mad);
            }
            for (int j = 0; j < subBlocks; j++) {
                String at = "round " + round + " sub-block " + j;
                assertEquals(Float.floatToRawIntBits(scalarScale[j]), Float.floatToRawIntBits(lanesScale[j]), "scale, " + at);
                assertEquals(Float.floatToRawIntBits(scalarMin[j]), Float.floatToRawIntBits(lanesMin[j]), "min, " + at);
                for (int i = 0; i < n; i++) assertEquals(scalarL[j * n + i], lanesL[j * n + i], "quant " + i + ", " + at);
            }
        }
    }

    @ParameterizedTest(name = "requantize n={0} nmax={1}")
    @CsvSource({"16, 3", "32, 15", "32, 31", "8, 7"})
    void requantizeMatchesScalar(int n, int nmax) {
        Random r = new Random(n * 7L + nmax);
        float[] ds = {1e-3f, 0.02f, 1f, 3e-8f, 65504f, -0.5f, Float.MIN_VALUE, Float.NaN};
        for (int round = 0; round < 200; round++) {
            float[] x = new float[n + 3];
            int shape = r.nextInt(16);
            float[] w = new float[n + 3];
            fill(r, shape, x, w, 3, n);
            float d = ds[round % ds.length] * (1 + r.nextFloat());
            float dm = round % 5 == 0 ? 0f : Math.abs((float) r.nextGaussian()) * d * 4;
            byte[] vector = new byte[n + 1], scalar = new byte[n + 1];
            KQuantMinLanes.requantize(x, 3, n, d, dm, nmax, vector, 1);
            KQuantMinSearch.requantize(x, 3, n, d, dm, nmax, scalar, 1);
            assertArrayEquals(scalar, vector, "round " + round + " shape " + shape + " d " + d + " dm " + dm);
        }
    }
}
