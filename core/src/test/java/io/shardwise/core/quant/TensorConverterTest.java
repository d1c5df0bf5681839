package io.shardwise.core.quant;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Chunked re-encoding gives the same bytes as quantizing the whole dequantized tensor at once. */
class TensorConverterTest {

    @Test
    void chunkedConversionEqualsWholeTensorQuantization() {
        long[] shape = {1024, 1536}; // 1.5M floats: more than one chunk
        float[] v = new float[1024 * 1536];
        Random r = new Random(11);
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian() * 0.05f;
        Tensor q8 = TensorCodecs.quantize("w", shape, v, GgmlType.Q8_0);
        try (Arena arena = Arena.ofConfined()) {
            Tensor q4 = TensorConverter.convert(q8, GgmlType.Q4_0, arena);
            Tensor expected = TensorCodecs.quantize("w", shape, q8.toFloats(), GgmlType.Q4_0);
            assertEquals(GgmlType.Q4_0, q4.type());
            assertEquals(-1, expected.data().mismatch(q4.data()));
            Tensor ch = TensorConverter.convert(q8, ChannelIntType.I4_ASYM_CH, arena);
            assertArrayEquals(TensorCodecs.quantize("w", shape, q8.toFloats(), ChannelIntType.I4_ASYM_CH).toFloats(), ch.toFloats());
            assertSame(q8, TensorConverter.convert(q8, GgmlType.Q8_0, arena));
        }
    }

    @Test
    void rowsThatDoNotFitTheBlocksFallBackToF16AsLlamaCppDoes() {
        assertEquals(GgmlType.Q8_0, TensorConverter.storableType(GgmlType.Q8_0, 64));
        assertEquals(GgmlType.F16, TensorConverter.storableType(GgmlType.Q8_0, 172));
        assertEquals(GgmlType.F16, TensorConverter.storableType(GgmlType.Q4_0, 172));
        assertEquals(GgmlType.F32, TensorConverter.storableType(GgmlType.F32, 172));
    }
}
