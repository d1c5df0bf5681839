package io.shardwise.core.quant;

import io.shardwise.core.tensor.TensorCodec;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Our codecs against blocks and floats made by ggml's reference quantize/dequantize (shared/data/ggml-vectors). */
class GgmlBitExactTest {

    static TensorCodec codec(String type) {
        return switch (type) {
            case "f16" -> new F16Codec();
            case "bf16" -> new BF16Codec();
            case "q8_0" -> new Q8_0Codec();
            case "q4_0" -> new Q4_0Codec();
            default -> throw new IllegalArgumentException(type);
        };
    }

    @ParameterizedTest(name = "{0}{1} quantize matches ggml byte for byte")
    @CsvSource({"f16,''", "f16,.n512", "bf16,''", "bf16,.n512", "q8_0,''", "q8_0,.n512", "q4_0,''", "q4_0,.n512"})
    void quantizeMatchesGgml(String type, String set) throws Exception {
        float[] input = GgmlVectors.floats(type + set + ".input.f32");
        byte[] expected = GgmlVectors.bytes(type + set + ".blocks.bin");
        int rowLength = set.isEmpty() ? 256 : 512;
        byte[] got = new byte[expected.length];
        codec(type).quantize(input, 0, input.length, rowLength, MemorySegment.ofArray(got), 0);
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            if (got[i] != expected[i]) {
                if (bad++ < 5) first.append(String.format(" byte %d (row %d): got %02x want %02x;", i, i / (got.length / (input.length / rowLength)), got[i], expected[i]));
            }
        }
        if (bad > 0) fail(type + set + ": " + bad + " of " + got.length + " bytes differ:" + first);
    }

    @ParameterizedTest(name = "{0}{1} dequantize matches ggml bit for bit")
    @CsvSource({"f16,''", "f16,.n512", "bf16,''", "bf16,.n512", "q8_0,''", "q8_0,.n512", "q4_0,''", "q4_0,.n512"})
    void dequantizeMatchesGgml(String type, String set) throws Exception {
        byte[] blocks = GgmlVectors.bytes(type + set + ".blocks.bin");
        float[] expected = GgmlVectors.floats(type + set + ".dequant.f32");
        int rowLength = set.isEmpty() ? 256 : 512;
        float[] got = new float[expected.length];
        codec(type).dequantize(MemorySegment.ofArray(blocks), 0, got.length, rowLength, got, 0);
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(expected[i])) {
                if (bad++ < 5) first.append(String.format(" value %d: got %08x want %08x;", i, Float.floatToRawIntBits(got[i]), Float.floatToRawIntBits(expected[i])));
            }
        }
        assertEquals(0, bad, type + set + ": " + bad + " of " + got.length + " floats differ:" + first);
    }
}
