package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The K-quants with a scale and a min per sub-block (Q2_K, Q4_K, Q5_K) and Q8_K against blocks and floats made by
 * ggml's reference code (shared/data/ggml-vectors), plain and with an importance matrix, every file the manifest lists.
 */
class KQuantsMinBitExactTest {
    private static final Set<String> TYPES = Set.of("q2_K", "q4_K", "q5_K", "q8_K");

    /** One blocks.bin of the manifest: its type, its set (n256/n512), plain or imatrix, and its shape. */
    record Case(String type, String set, String kind, int rows, int rowLength) {
        String prefix() {
            return type + ("n512".equals(set) ? ".n512" : "") + ("imatrix".equals(kind) ? ".imatrix" : "");
        }

        String input() {
            return type + ("n512".equals(set) ? ".n512" : "") + ".input.f32";
        }

        TensorCodec codec() {
            return TensorCodecs.codec(GgmlType.valueOf(type.toUpperCase()));
        }

        @Override
        public String toString() {
            return prefix();
        }
    }

    static Stream<Case> cases() throws IOException {
        List<String[]> manifest = GgmlVectors.manifest();
        if (manifest.isEmpty()) return Stream.of(new Case("absent", "", "", 0, 0)); // the test skips it with the reason
        List<Case> cases = manifest.stream()
                .filter(f -> f.length >= 7 && TYPES.contains(f[1]) && f[0].endsWith(".blocks.bin"))
                .filter(f -> f[3].equals("plain") || f[3].equals("imatrix"))
                .map(f -> new Case(f[1], f[2], f[3], Integer.parseInt(f[4]), Integer.parseInt(f[5])))
                .toList();
        assertEquals(14, cases.size(), "plain blocks of 4 types and imatrix blocks of 3, in 2 sets: " + cases);
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} quantize matches ggml byte for byte")
    @MethodSource("cases")
    void quantizeMatchesGgml(Case c) throws Exception {
        GgmlVectors.dir();
        float[] input = GgmlVectors.floats(c.input());
        byte[] expected = GgmlVectors.bytes(c.prefix() + ".blocks.bin");
        assertEquals(c.rows() * c.rowLength(), input.length, c.input());
        byte[] got = new byte[expected.length];
        MemorySegment dst = MemorySegment.ofArray(got);
        if (c.kind().equals("imatrix")) {
            float[] weights = GgmlVectors.floats(c.prefix() + ".weights.f32");
            c.codec().quantize(input, 0, input.length, c.rowLength(), weights, dst, 0);
        } else {
            c.codec().quantize(input, 0, input.length, c.rowLength(), dst, 0);
        }
        int rowBytes = expected.length / c.rows();
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            if (got[i] != expected[i] && bad++ < 8) {
                first.append(String.format(" byte %d (row %d, +%d): got %02x want %02x;", i, i / rowBytes, i % rowBytes, got[i], expected[i]));
            }
        }
        assertEquals(0, bad, c + ": " + bad + " of " + got.length + " bytes differ:" + first);
    }

    @ParameterizedTest(name = "{0} dequantize matches ggml bit for bit")
    @MethodSource("cases")
    void dequantizeMatchesGgml(Case c) throws Exception {
        GgmlVectors.dir();
        byte[] blocks = GgmlVectors.bytes(c.prefix() + ".blocks.bin");
        float[] expected = GgmlVectors.floats(c.prefix() + ".dequant.f32");
        float[] got = new float[expected.length];
        c.codec().dequantize(MemorySegment.ofArray(blocks), 0, got.length, c.rowLength(), got, 0);
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(expected[i]) && bad++ < 8) {
                first.append(String.format(" value %d: got %08x want %08x;", i, Float.floatToRawIntBits(got[i]), Float.floatToRawIntBits(expected[i])));
            }
        }
        assertEquals(0, bad, c + ": " + bad + " of " + got.length + " floats differ:" + first);
    }

    @Test
    void rowsThatAreNotWholeSuperBlocksAreRefused() {
        for (String type : TYPES) {
            TensorCodec codec = TensorCodecs.codec(GgmlType.valueOf(type.toUpperCase()));
            float[] x = new float[300];
            MemorySegment dst = MemorySegment.ofArray(new byte[1024]);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> codec.quantize(x, 0, 300, 300, dst, 0));
            assertTrue(e.getMessage().contains("multiple of 256") && e.getMessage().contains("300"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> codec.quantize(x, 0, 300, 300, new float[300], dst, 0));
            assertTrue(e.getMessage().contains("multiple of 256"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> codec.dequantize(dst, 0, 300, 300, x, 0));
            assertTrue(e.getMessage().contains("multiple of 256"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> codec.dequantize(dst, 128, 256, 256, x, 0));
            assertTrue(e.getMessage().contains("whole blocks"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> codec.quantize(x, 0, 300, 256, dst, 0));
            assertTrue(e.getMessage().contains("whole rows"), e.getMessage());
        }
        for (String type : List.of("q2_K", "q4_K", "q5_K")) {
            TensorCodec codec = TensorCodecs.codec(GgmlType.valueOf(type.toUpperCase()));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> codec.quantize(new float[512], 0, 512, 512, new float[256], MemorySegment.ofArray(new byte[1024]), 0));
            assertTrue(e.getMessage().contains("one weight per column (512), got 256"), e.getMessage());
        }
    }

    @Test
    void scalesAndMinsRoundTripThroughTheTwelveByteLayout() {
        java.util.Random r = new java.util.Random(7);
        for (int round = 0; round < 200; round++) {
            int[] ls = new int[8], lm = new int[8];
            for (int j = 0; j < 8; j++) {
                ls[j] = round == 0 ? 63 : r.nextInt(64);
                lm[j] = round == 0 ? 63 : r.nextInt(64);
            }
            byte[] packed = new byte[14];
            KQuantMinSearch.packScaleMinK4(ls, lm, packed, 1);
            for (int j = 0; j < 8; j++) {
                assertEquals(ls[j], KQuantMinSearch.scaleK4(j, packed, 1), "scale " + j);
                assertEquals(lm[j], KQuantMinSearch.minK4(j, packed, 1), "min " + j);
            }
            assertEquals(0, packed[0]);
            assertEquals(0, packed[13]);
        }
    }
}
