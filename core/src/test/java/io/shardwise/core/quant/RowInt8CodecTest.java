package io.shardwise.core.quant;

import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RowInt8CodecTest {
    private static float[] gaussian(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.05);
        return v;
    }

    @Test
    void symmetricRowsStayWithinHalfAStepAndKeepTheirLayout() {
        int n = 172, rows = 5;
        float[] w = gaussian(n * rows, 1);
        Tensor t = TensorCodecs.quantize("w", new long[]{n, rows}, w, TensorType.parse("I8_SYM_CH"));
        assertEquals(rows * (4L + n), t.data().byteSize());
        float[] y = t.toFloats();
        for (int r = 0; r < rows; r++) {
            float amax = 0;
            for (int j = 0; j < n; j++) amax = Math.max(amax, Math.abs(w[r * n + j]));
            assertEquals(amax / 127f, t.data().get(Tensor.F32_LE, r * (4L + n)), "row " + r + " scale");
            for (int j = 0; j < n; j++) assertTrue(Math.abs(w[r * n + j] - y[r * n + j]) <= amax / 127f * 0.5001, "row " + r + " col " + j);
        }
    }

    @Test
    void outlierColumnsAreKeptInHalfPrecisionAndLeftOutOfTheScale() {
        int n = 64, rows = 3;
        float[] w = gaussian(n * rows, 2);
        for (int r = 0; r < rows; r++) w[r * n + 9] = 3.5f + r; // large weights in column 9 would crush the int8 grid
        int[] cols = {9, 33};
        RowInt8Type type = new RowInt8Type(2);
        MemorySegment dst = MemorySegment.ofArray(new byte[Math.toIntExact(type.byteSize(new long[]{n, rows}))]);
        RowInt8Codec.quantize(w, 0, n * rows, n, cols, dst, 0);
        float[] y = new float[n * rows];
        TensorCodecs.codec(type).dequantize(dst, 0, n * rows, n, y, 0);
        for (int r = 0; r < rows; r++) {
            for (int c : cols) assertEquals(F16Codec.halfToFloat(F16Codec.floatToHalf(w[r * n + c])), y[r * n + c]);
            float amax = 0;
            for (int j = 0; j < n; j++) if (j != 9 && j != 33) amax = Math.max(amax, Math.abs(w[r * n + j]));
            assertTrue(amax < 0.5f);
            for (int j = 0; j < n; j++) if (j != 9 && j != 33) assertTrue(Math.abs(w[r * n + j] - y[r * n + j]) <= amax / 127f * 0.5001);
        }
        // a second row range decodes on its own (the row layout carries its columns)
        float[] last = new float[n];
        TensorCodecs.codec(type).dequantize(dst, 2L * n, n, n, last, 0);
        assertArrayEquals(java.util.Arrays.copyOfRange(y, 2 * n, 3 * n), last);
    }

    @Test
    void thePlainQuantizeOfAMixedTypeKeepsTheColumnsOfLargestWeights() {
        int n = 32, rows = 4;
        float[] w = gaussian(n * rows, 3);
        w[1 * n + 20] = 2f;
        w[3 * n + 4] = -1.5f;
        assertArrayEquals(new int[]{4, 20}, RowInt8Codec.largestColumns(w, 0, n * rows, n, 2));
        assertSame(TensorCodecs.codec(new RowInt8Type(2)), TensorCodecs.codec(TensorType.parse("I8_F16X2")));
        assertTrue(TensorCodecs.supports(new RowInt8Type(7)));
        Tensor t = TensorCodecs.quantize("w", new long[]{n, rows}, w, new RowInt8Type(2));
        float[] y = t.toFloats();
        assertEquals(F16Codec.halfToFloat(F16Codec.floatToHalf(2f)), y[n + 20]);
        assertEquals(F16Codec.halfToFloat(F16Codec.floatToHalf(-1.5f)), y[3 * n + 4]);
    }

    @Test
    void badOutlierColumnsAreRefused() {
        float[] w = gaussian(64, 4);
        MemorySegment dst = MemorySegment.ofArray(new byte[1000]);
        var e = assertThrows(IllegalArgumentException.class, () -> RowInt8Codec.quantize(w, 0, 64, 32, new int[]{5, 3}, dst, 0));
        assertTrue(e.getMessage().contains("ascend"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RowInt8Codec.quantize(w, 0, 64, 32, new int[]{32}, dst, 0));
        assertTrue(e.getMessage().contains("outlier column 32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> RowInt8Codec.quantize(w, 0, 60, 32, new int[0], dst, 0));
        assertTrue(e.getMessage().contains("whole rows"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TensorType.parse("I8_F16X0"));
    }
}
