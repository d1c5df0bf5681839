package io.shardwise.core.quant;

import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Nf4CodecTest {
    private static final TensorCodec NF4 = TensorCodecs.codec(CodebookType.NF4);

    /** Phi(x) by Marsaglia's series 0.5 + phi(x) (x + x^3/3 + x^5/(3*5) + ...), exact to double for |x| < 5. */
    private static double cdf(double x) {
        double term = x, sum = x;
        for (int k = 3; Math.abs(term) > 1e-300 && k < 500; k += 2) sum += term *= x * x / k;
        return 0.5 + sum * Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
    }

    private static double quantile(double p) {
        double lo = -8, hi = 8;
        for (int i = 0; i < 200; i++) {
            double mid = (lo + hi) / 2;
            if (cdf(mid) < p) lo = mid;
            else hi = mid;
        }
        return (lo + hi) / 2;
    }

    @Test
    void theLevelsAreQLoRAsNormalQuantilesDerivedAgain() {
        // QLoRA: 2^(k-1) levels for the positive half and 2^(k-1) - 1 for the negative one, quantiles of N(0, 1) between
        // the probabilities delta and 1/2 (delta = (1/32 + 1/30) / 2 keeps the end quantiles finite), plus an exact 0,
        // normalized into [-1, 1] (bitsandbytes create_normal_map(offset = 0.9677083))
        double offset = 1 - (1.0 / 32 + 1.0 / 30) / 2;
        double[] v = new double[16];
        for (int i = 0; i < 8; i++) v[15 - i] = quantile(offset + i * (0.5 - offset) / 8);
        v[7] = 0;
        for (int i = 0; i < 7; i++) v[i] = -quantile(offset + i * (0.5 - offset) / 7);
        double max = v[15];
        for (int i = 0; i < 16; i++) assertEquals(v[i] / max, Nf4Codec.LEVELS[i], 2e-7, "level " + i);
        // properties: ascending, exact 0, ends at -1 and 1, 8 positive and 7 negative, asymmetric
        for (int i = 1; i < 16; i++) assertTrue(Nf4Codec.LEVELS[i] > Nf4Codec.LEVELS[i - 1]);
        assertEquals(0f, Nf4Codec.LEVELS[Nf4Codec.ZERO_CODE]);
        assertEquals(-1f, Nf4Codec.LEVELS[0]);
        assertEquals(1f, Nf4Codec.LEVELS[15]);
        assertNotEquals(-Nf4Codec.LEVELS[6], Nf4Codec.LEVELS[8]);
    }

    @Test
    void nearestPicksTheClosestLevel() {
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 100_000; i++) {
            float v = (float) (r.nextDouble() * 2.4 - 1.2);
            int best = 0;
            for (int k = 1; k < 16; k++) if (Math.abs(v - Nf4Codec.LEVELS[k]) < Math.abs(v - Nf4Codec.LEVELS[best])) best = k;
            assertEquals(best, Nf4Codec.nearest(v), "v = " + v);
        }
        for (int k = 0; k < 16; k++) assertEquals(k, Nf4Codec.nearest(Nf4Codec.LEVELS[k]));
    }

    private static MemorySegment quantize(float[] x, int rowLength) {
        long[] shape = {rowLength, x.length / rowLength};
        MemorySegment dst = MemorySegment.ofArray(new byte[(int) CodebookType.NF4.byteSize(shape)]);
        NF4.quantize(x, 0, x.length, rowLength, dst, 0);
        return dst;
    }

    private static float[] dequantize(MemorySegment q, int n, int rowLength) {
        float[] y = new float[n];
        NF4.dequantize(q, 0, n, rowLength, y, 0);
        return y;
    }

    @Test
    void everyCodeValueReproducesExactly() {
        // rows whose blocks share one absmax: the second level stores them with scale 0, so a' = a exactly
        for (int rowLength : new int[]{64, 172, 16, 1}) {
            int rows = 3;
            float[] x = new float[rows * rowLength];
            float a = 0.37f;
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < rowLength; j++) {
                    int code = (j * 7 + r) % 16;
                    if (j % 64 == 0) code = 15; // every block holds its absmax
                    x[r * rowLength + j] = Nf4Codec.LEVELS[code] * a;
                }
            }
            MemorySegment q = quantize(x, rowLength);
            assertArrayEquals(x, dequantize(q, x.length, rowLength), "row length " + rowLength);
            long rowBytes = CodebookType.NF4.rowBytes(rowLength);
            int nb = Nf4Codec.blocks(rowLength);
            assertEquals(0f, q.get(Tensor.F32_LE, 0), "second-level scale");
            assertEquals(a, q.get(Tensor.F32_LE, 4), "second-level offset (mean)");
            // codes: low nibble first
            for (int j = 0; j + 1 < rowLength; j += 2) {
                int b = q.get(ValueLayout.JAVA_BYTE, rowBytes + 8 + nb + j / 2) & 0xFF;
                assertEquals(Nf4Codec.nearest(x[rowLength + j] / a), b & 0x0F);
                assertEquals(Nf4Codec.nearest(x[rowLength + j + 1] / a), b >>> 4);
            }
        }
    }

    @Test
    void randomRowsGetTheNearestValueOfTheirDoubleQuantizedScale() {
        SplittableRandom rnd = new SplittableRandom(2);
        for (int rowLength : new int[]{172, 256, 100, 63}) {
            int rows = 16;
            float[] x = new float[rows * rowLength];
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * 0.02 * (1 + (i / rowLength) % 3));
            MemorySegment q = quantize(x, rowLength);
            assertEquals(CodebookType.NF4.byteSize(new long[]{rowLength, rows}), q.byteSize());
            float[] y = dequantize(q, x.length, rowLength);
            int nb = Nf4Codec.blocks(rowLength);
            double err2 = 0, sig2 = 0;
            for (int r = 0; r < rows; r++) {
                float[] a = new float[nb];
                double mean = 0;
                for (int j = 0; j < rowLength; j++) a[j / 64] = Math.max(a[j / 64], Math.abs(x[r * rowLength + j]));
                for (float v : a) mean += v / nb;
                double dev = 0;
                for (float v : a) dev = Math.max(dev, Math.abs(v - mean));
                for (int b = 0; b < nb; b++) {
                    float ab = Nf4Codec.blockAbsmax(q, r, rowLength, b);
                    assertTrue(Math.abs(ab - a[b]) <= dev / 127 / 2 * 1.0001 + 1e-9, "double-quantized absmax within half a step");
                }
                for (int j = 0; j < rowLength; j++) {
                    int i = r * rowLength + j;
                    float ab = Nf4Codec.blockAbsmax(q, r, rowLength, j / 64);
                    double best = Double.MAX_VALUE;
                    for (float l : Nf4Codec.LEVELS) best = Math.min(best, Math.abs(x[i] - l * ab));
                    assertEquals(best, Math.abs(x[i] - y[i]), 1e-7 * ab, "row " + r + " col " + j + ": nearest representable value");
                    err2 += (x[i] - y[i]) * (double) (x[i] - y[i]);
                    sig2 += x[i] * (double) x[i];
                }
            }
            // NF4 on Gaussian blocks of 64: about 10% relative RMS error (4-bit int absmax: about 12%)
            double rel = Math.sqrt(err2 / sig2);
            assertTrue(rel > 0.05 && rel < 0.12, "relative rms error " + rel + " for rows of " + rowLength);
        }
    }

    @Test
    void zeroRowsStayZeroAndRowsReadAlone() {
        float[] x = new float[3 * 172];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int j = 172; j < 2 * 172; j++) x[j] = (float) rnd.nextGaussian(); // row 1 only; rows 0 and 2 are zeros
        MemorySegment q = quantize(x, 172);
        float[] all = dequantize(q, x.length, 172);
        for (int j = 0; j < 172; j++) {
            assertEquals(0f, all[j]);
            assertEquals(0f, all[2 * 172 + j]);
        }
        float[] row = new float[172];
        NF4.dequantize(q, 172, 172, 172, row, 0); // the runtime's slow path reads one row by its first element
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 172, 344), row);
        // a block of zeros among non-zero ones: its a' may be a hair off 0, its values still decode to exactly 0
        float[] mixed = new float[192];
        for (int j = 64; j < 192; j++) mixed[j] = (float) rnd.nextGaussian();
        float[] y = dequantize(quantize(mixed, 192), 192, 192);
        for (int j = 0; j < 64; j++) assertEquals(0f, Math.abs(y[j]));
    }

    @Test
    void nonFiniteValuesAndRaggedInputAreRefused() {
        float[] x = new float[2 * 70];
        x[70 + 5] = Float.NaN;
        var e = assertThrows(IllegalArgumentException.class, () -> quantize(x, 70));
        assertEquals("NF4: value NaN at row 1, column 5 is not finite", e.getMessage());
        x[70 + 5] = Float.NEGATIVE_INFINITY;
        e = assertThrows(IllegalArgumentException.class, () -> quantize(x, 70));
        assertTrue(e.getMessage().contains("-Infinity at row 1, column 5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NF4.quantize(new float[100], 0, 100, 64, MemorySegment.ofArray(new byte[200]), 0));
        assertTrue(e.getMessage().contains("whole rows"), e.getMessage());
    }
}
