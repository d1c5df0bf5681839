package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Q6_K and Q3_K (signed sub-block scales, no min) against ggml's reference quantize_row_*_ref / _impl and
 * dequantize_row_* output in shared/data/ggml-vectors, one case per manifest file of those types.
 */
class KQuantsScaleBitExactTest {

    private static final Set<String> TYPES = Set.of("q6_K", "q3_K");

    static TensorCodec codec(String type) {
        return switch (type) {
            case "q6_K" -> new Q6_KCodec();
            case "q3_K" -> new Q3_KCodec();
            default -> throw new IllegalArgumentException(type);
        };
    }

    /** (blocks file, type, set, kind, n_per_row) for every plain and imatrix blocks file of our types. */
    static List<Arguments> blockFiles() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (String[] m : GgmlVectors.manifest()) {
            if (TYPES.contains(m[1]) && (m[3].equals("plain") || m[3].equals("imatrix")) && m[0].endsWith(".blocks.bin")) {
                out.add(Arguments.of(m[0], m[1], m[2], m[3], Integer.parseInt(m[5])));
            }
        }
        // no vectors: one case that skips with the reason
        if (out.isEmpty()) out.add(Arguments.of("absent", "q6_K", "n256", "plain", 256));
        return out;
    }

    private static String prefix(String type, String set) {
        return type + (set.equals("n256") ? "" : "." + set);
    }

    @ParameterizedTest(name = "{0}: quantize matches ggml byte for byte")
    @MethodSource("blockFiles")
    void quantizeMatchesGgml(String file, String type, String set, String kind, int rowLength) throws Exception {
        GgmlVectors.dir();
        String p = prefix(type, set);
        float[] input = GgmlVectors.floats(p + ".input.f32");
        byte[] expected = GgmlVectors.bytes(file);
        byte[] got = new byte[expected.length];
        TensorCodec c = codec(type);
        if (kind.equals("imatrix")) {
            float[] weights = GgmlVectors.floats(p + ".imatrix.weights.f32");
            c.quantize(input, 0, input.length, rowLength, weights, MemorySegment.ofArray(got), 0);
        } else {
            c.quantize(input, 0, input.length, rowLength, MemorySegment.ofArray(got), 0);
        }
        int rowBytes = got.length / (input.length / rowLength);
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            if (got[i] != expected[i] && bad++ < 5) {
                first.append(String.format(" byte %d (row %d, offset %d): got %02x want %02x;", i, i / rowBytes, i % rowBytes, got[i], expected[i]));
            }
        }
        if (bad > 0) fail(file + ": " + bad + " of " + got.length + " bytes differ:" + first);
    }

    @ParameterizedTest(name = "{0}: dequantize matches ggml bit for bit")
    @MethodSource("blockFiles")
    void dequantizeMatchesGgml(String file, String type, String set, String kind, int rowLength) throws Exception {
        GgmlVectors.dir();
        byte[] blocks = GgmlVectors.bytes(file);
        float[] expected = GgmlVectors.floats(file.replace(".blocks.bin", ".dequant.f32"));
        float[] got = new float[expected.length];
        TensorCodec c = codec(type);
        // one row at a time, as ggml's to_float was called
        for (int r = 0; r < expected.length / rowLength; r++) {
            c.dequantize(MemorySegment.ofArray(blocks), (long) r * rowLength, rowLength, rowLength, got, r * rowLength);
        }
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(expected[i]) && bad++ < 5) {
                first.append(String.format(" value %d: got %08x want %08x;", i, Float.floatToRawIntBits(got[i]), Float.floatToRawIntBits(expected[i])));
            }
        }
        assertEquals(0, bad, file + ": " + bad + " of " + got.length + " floats differ:" + first);
    }

    @ParameterizedTest(name = "{0} refuses a row of 100 values")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"q6_K", "q3_K"})
    void refusesRowsThatAreNotWholeSuperBlocks(String type) {
        TensorCodec c = codec(type);
        MemorySegment dst = MemorySegment.ofArray(new byte[1024]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.quantize(new float[200], 0, 200, 100, dst, 0));
        assertTrue(e.getMessage().contains("multiple of 256") && e.getMessage().contains("100"), e.getMessage());
        IllegalArgumentException w = assertThrows(IllegalArgumentException.class, () -> c.quantize(new float[200], 0, 200, 100, new float[100], dst, 0));
        assertTrue(w.getMessage().contains("multiple of 256"), w.getMessage());
        IllegalArgumentException shortWeights = assertThrows(IllegalArgumentException.class, () -> c.quantize(new float[512], 0, 512, 512, new float[256], dst, 0));
        assertTrue(shortWeights.getMessage().contains("importance"), shortWeights.getMessage());
    }

    @Test
    void registryHasBothTypes() {
        assertSame(Q6_KCodec.class, TensorCodecs.codec(GgmlType.Q6_K).getClass());
        assertSame(Q3_KCodec.class, TensorCodecs.codec(GgmlType.Q3_K).getClass());
    }
}
