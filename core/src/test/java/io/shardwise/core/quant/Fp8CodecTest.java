package io.shardwise.core.quant;

import io.shardwise.core.quant.Fp8Codec.Format;
import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Fp8CodecTest {

    @Test
    void theFormatsHaveTheSpecsRangesAndSpecialCodes() {
        assertEquals(448f, Format.E4M3.max);
        assertEquals(57344f, Format.E5M2.max);
        assertEquals(0x1p-6f, Format.E4M3.decode(0x08), "smallest normal E4M3");
        assertEquals(0x1p-9f, Format.E4M3.decode(0x01), "smallest subnormal E4M3");
        assertEquals(0x1p-14f, Format.E5M2.decode(0x04), "smallest normal E5M2");
        assertEquals(0x1p-16f, Format.E5M2.decode(0x01), "smallest subnormal E5M2");
        assertEquals(1.125f, Format.E4M3.decode(0x39));
        assertEquals(-1.25f, Format.E5M2.decode(0xBD));
        assertEquals(Float.POSITIVE_INFINITY, Format.E5M2.decode(0x7C));
        assertEquals(Float.NEGATIVE_INFINITY, Format.E5M2.decode(0xFC));
        assertEquals(256f, Format.E4M3.decode(0x78), "E4M3 has no infinity: S.1111.000 is finite");
        int[] nans = new int[2];
        for (int c = 0; c < 256; c++) {
            if (Float.isNaN(Format.E4M3.decode(c))) nans[0]++;
            if (Float.isNaN(Format.E5M2.decode(c))) nans[1]++;
        }
        assertEquals(2, nans[0], "E4M3 NaN is S.1111.111 only");
        assertEquals(6, nans[1], "E5M2 NaNs are S.11111.{01,10,11}");
    }

    @Test
    void everyFiniteCodeDecodesAndEncodesBackToItself() {
        for (Format f : Format.values()) {
            for (int c = 0; c < 256; c++) {
                float v = f.decode(c);
                if (Float.isNaN(v)) {
                    assertTrue(Float.isNaN(f.decode(f.encode(v))), f + " NaN code " + c);
                } else if (Float.isInfinite(v)) {
                    assertEquals((c & 0x80) | f.maxCode, f.encode(v), f + " infinity saturates to max finite");
                } else {
                    assertEquals(c, f.encode(v), f + " code 0x" + Integer.toHexString(c) + " = " + v);
                }
            }
        }
    }

    /** The exact nearest code, ties to the even code, saturating: computed over BigDecimal, independently of encode. */
    private static int reference(Format f, float x, List<Integer> codes, List<BigDecimal> values) {
        int sign = Float.floatToRawIntBits(x) >>> 31 << 7;
        if (Float.isNaN(x)) return sign | f.nanCode;
        if (Math.abs(x) >= f.max) return sign | f.maxCode;
        BigDecimal a = new BigDecimal(Math.abs((double) x));
        int best = 0;
        for (int i = 1; i < values.size(); i++) {
            int cmp = a.subtract(values.get(i)).abs().compareTo(a.subtract(values.get(best)).abs());
            if (cmp < 0 || cmp == 0 && (codes.get(i) & 1) == 0) best = i;
        }
        return sign | codes.get(best);
    }

    @Test
    void encodingMatchesExactRoundingToNearestEvenOverRandomFloats() {
        SplittableRandom r = new SplittableRandom(4);
        for (Format f : Format.values()) {
            List<Integer> codes = new ArrayList<>();
            List<BigDecimal> values = new ArrayList<>();
            for (int c = 0; c < 128; c++) {
                float v = f.decode(c);
                if (Float.isFinite(v)) {
                    codes.add(c);
                    values.add(new BigDecimal((double) v));
                }
            }
            int minExp = 1 - f.bias - f.mantissaBits - 3, maxExp = Math.getExponent(f.max) + 2;
            for (int i = 0; i < 40_000; i++) {
                float x;
                int kind = i % 4;
                if (kind == 0) { // exact midpoints between neighbouring values: the ties
                    int k = r.nextInt(values.size() - 1);
                    x = (float) ((f.decode(codes.get(k)) + (double) f.decode(codes.get(k + 1))) / 2);
                } else if (kind == 1) { // a midpoint nudged by an ulp either way
                    int k = r.nextInt(values.size() - 1);
                    float mid = (float) ((f.decode(codes.get(k)) + (double) f.decode(codes.get(k + 1))) / 2);
                    x = r.nextBoolean() ? Math.nextUp(mid) : Math.nextDown(mid);
                } else { // log-uniform over the range, subnormals and overflow included
                    x = Math.scalb((float) (1 + r.nextDouble()), minExp + r.nextInt(maxExp - minExp + 1));
                }
                if (r.nextBoolean()) x = -x;
                assertEquals(reference(f, x, codes, values), f.encode(x), f + " x = " + x);
            }
            for (float x : new float[]{0f, -0f, Float.MIN_VALUE, Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN}) {
                int want = reference(f, x, codes, values);
                if (Float.isNaN(x)) assertTrue(Float.isNaN(f.decode(f.encode(x))));
                else assertEquals(want, f.encode(x), f + " x = " + x);
            }
        }
    }

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.03 * (1 + i % 5));
        return v;
    }

    @Test
    void perChannelAndPerTensorScalesBoundTheError() {
        int cols = 172, rows = 9;
        float[] x = random(cols * rows, 5);
        x[3 * cols + 7] = 1e-7f; // subnormal territory after scaling
        for (CodebookType t : List.of(CodebookType.FP8_E4M3, CodebookType.FP8_E4M3_CH, CodebookType.FP8_E5M2, CodebookType.FP8_E5M2_CH)) {
            Tensor q = TensorCodecs.quantize("w", new long[]{cols, rows}, x, t);
            assertEquals(rows * (4L + cols), q.data().byteSize());
            Format f = ((Fp8Codec) TensorCodecs.codec(t)).format();
            float[] y = q.toFloats();
            float tensorAmax = 0;
            for (float v : x) tensorAmax = Math.max(tensorAmax, Math.abs(v));
            for (int r = 0; r < rows; r++) {
                float amax = 0;
                for (int j = 0; j < cols; j++) amax = Math.max(amax, Math.abs(x[r * cols + j]));
                float s = q.data().get(Tensor.F32_LE, r * (4L + cols));
                assertEquals((t.perChannel ? amax : tensorAmax) / f.max, s, t + " row " + r + " scale");
                for (int j = 0; j < cols; j++) {
                    float v = x[r * cols + j];
                    // half an ulp relative in the normal range, half the subnormal step below it
                    double bound = Math.max(Math.abs(v) * Math.scalb(1.0, -f.mantissaBits - 1), Math.scalb((double) s, -f.bias - f.mantissaBits));
                    assertTrue(Math.abs(v - y[r * cols + j]) <= bound * 1.0001, t + " row " + r + " col " + j);
                }
            }
        }
    }

    @Test
    void aGivenTensorScaleQuantizesChunksAsTheWholeTensor() {
        int cols = 64, rows = 10;
        float[] x = random(cols * rows, 6);
        Fp8Codec codec = (Fp8Codec) TensorCodecs.codec(CodebookType.FP8_E4M3);
        Tensor whole = TensorCodecs.quantize("w", new long[]{cols, rows}, x, CodebookType.FP8_E4M3);
        float s = Fp8Codec.scale(Fp8Codec.amax(x, 0, x.length, cols), Format.E4M3);
        MemorySegment chunked = MemorySegment.ofArray(new byte[(int) whole.data().byteSize()]);
        codec.quantize(x, 0, 3 * cols, cols, s, chunked, 0);
        codec.quantize(x, 3 * cols, 7 * cols, cols, s, chunked, 3 * (4L + cols));
        assertEquals(-1, whole.data().mismatch(chunked));
        Tensor zeros = TensorCodecs.quantize("z", new long[]{cols, 2}, new float[2 * cols], CodebookType.FP8_E5M2_CH);
        for (float v : zeros.toFloats()) assertEquals(0f, v);
    }

    @Test
    void nonFiniteWeightsAndBadScalesAreRefused() {
        float[] x = random(3 * 20, 7);
        x[2 * 20 + 3] = Float.POSITIVE_INFINITY;
        var e = assertThrows(IllegalArgumentException.class, () -> TensorCodecs.quantize("w", new long[]{20, 3}, x, CodebookType.FP8_E4M3_CH));
        assertEquals("FP8: value Infinity at row 0, column 3 is not finite", e.getMessage()); // per channel: the row's own index
        e = assertThrows(IllegalArgumentException.class, () -> TensorCodecs.quantize("w", new long[]{20, 3}, x, CodebookType.FP8_E5M2));
        assertEquals("FP8: value Infinity at row 2, column 3 is not finite", e.getMessage());
        Fp8Codec codec = (Fp8Codec) TensorCodecs.codec(CodebookType.FP8_E5M2);
        e = assertThrows(IllegalArgumentException.class, () -> codec.quantize(new float[20], 0, 20, 20, 0f, MemorySegment.ofArray(new byte[24]), 0));
        assertTrue(e.getMessage().contains("scale 0.0"), e.getMessage());
    }
}
