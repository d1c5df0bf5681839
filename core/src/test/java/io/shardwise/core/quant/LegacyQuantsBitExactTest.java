package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * ggml's 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) against blocks and floats made by ggml's reference
 * code (shared/data/ggml-vectors): every plain, imatrix and IQ4_NL .ref file the manifest lists, quantized byte for
 * byte and dequantized bit for bit; plus argument checks and round trips on odd values.
 */
class LegacyQuantsBitExactTest {
    private static final Set<String> TYPES = Set.of("q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl");
    private static final Set<String> KINDS = Set.of("plain", "imatrix", "ref");

    /** One blocks.bin of the manifest: its type, its set (n256/n512), its kind (plain, imatrix, ref) and its shape. */
    record Case(String type, String set, String kind, int rows, int rowLength) {
        String setSuffix() {
            return "n512".equals(set) ? ".n512" : "";
        }

        String prefix() {
            return type + setSuffix() + (kind.equals("plain") ? "" : "." + kind);
        }

        GgmlType ggmlType() {
            return GgmlType.valueOf(type.toUpperCase());
        }

        @Override
        public String toString() {
            return prefix();
        }
    }

    static Stream<Case> cases() throws IOException {
        List<String[]> manifest = GgmlVectors.manifest();
        if (manifest.isEmpty()) return Stream.of(new Case("absent", "", "plain", 0, 0)); // the test skips it
        List<Case> cases = manifest.stream()
                .filter(f -> f.length >= 7 && TYPES.contains(f[1]) && KINDS.contains(f[3]) && f[0].endsWith(".blocks.bin"))
                .map(f -> new Case(f[1], f[2], f[3], Integer.parseInt(f[4]), Integer.parseInt(f[5])))
                .toList();
        // 5 types x 2 sets x (plain + imatrix) + iq4_nl's 2 ref files
        assertEquals(22, cases.size(), "blocks.bin files of the 32-element types in manifest.tsv: " + cases);
        return cases.stream();
    }

    /** README "Bytes ggml leaves undefined": from_float_ref leaves the nibbles of a block with max |x| < 1e-15 unwritten. */
    private static boolean undefinedRefBlock(Case c, float[] input, int block) {
        if (!c.kind().equals("ref")) return false;
        for (int j = 0; j < 32; j++) if (Math.abs(input[block * 32 + j]) >= 1e-15f) return false;
        return true;
    }

    @ParameterizedTest(name = "{0} quantize matches ggml byte for byte")
    @MethodSource("cases")
    void quantizeMatchesGgml(Case c) throws Exception {
        GgmlVectors.dir();
        float[] input = GgmlVectors.floats(c.type() + c.setSuffix() + ".input.f32");
        byte[] expected = GgmlVectors.bytes(c.prefix() + ".blocks.bin");
        assertEquals(c.rows() * c.rowLength(), input.length, "input values");
        GgmlType type = c.ggmlType();
        assertEquals((long) c.rows() * c.rowLength() / 32 * type.blockBytes, expected.length, "blocks.bin size");
        byte[] got = new byte[expected.length];
        MemorySegment dst = MemorySegment.ofArray(got);
        TensorCodec codec = TensorCodecs.codec(type);
        switch (c.kind()) {
            case "plain" -> codec.quantize(input, 0, input.length, c.rowLength(), dst, 0);
            case "imatrix" -> codec.quantize(input, 0, input.length, c.rowLength(),
                    GgmlVectors.floats(c.prefix() + ".weights.f32"), dst, 0);
            case "ref" -> ((IQ4_NLCodec) codec).quantizeRef(input, 0, input.length, dst, 0);
            default -> fail("unknown kind " + c.kind());
        }
        int bad = 0, undefined = 0, undefinedSame = 0;
        StringBuilder first = new StringBuilder();
        int blockBytes = type.blockBytes;
        for (int i = 0; i < got.length; i++) {
            if (i % blockBytes >= 2 && undefinedRefBlock(c, input, i / blockBytes)) {
                undefined++;
                if (got[i] == expected[i]) undefinedSame++;
                continue;
            }
            if (got[i] != expected[i] && bad++ < 5) {
                first.append(String.format(" byte %d (row %d, block %d): got %02x want %02x;", i, i / (got.length / c.rows()),
                        i / blockBytes, got[i], expected[i]));
            }
        }
        if (bad > 0) fail(c + ": " + bad + " of " + got.length + " bytes differ:" + first);
        if (undefined > 0) {
            System.out.println(c + ": " + undefined + " nibble bytes of all-zero blocks are undefined in ggml, not compared ("
                    + undefinedSame + " equal anyway)");
        }
    }

    @ParameterizedTest(name = "{0} dequantize matches ggml bit for bit")
    @MethodSource("cases")
    void dequantizeMatchesGgml(Case c) throws Exception {
        GgmlVectors.dir();
        byte[] blocks = GgmlVectors.bytes(c.prefix() + ".blocks.bin");
        float[] expected = GgmlVectors.floats(c.prefix() + ".dequant.f32");
        float[] input = GgmlVectors.floats(c.type() + c.setSuffix() + ".input.f32");
        float[] got = new float[expected.length];
        TensorCodecs.codec(c.ggmlType()).dequantize(MemorySegment.ofArray(blocks), 0, got.length, c.rowLength(), got, 0);
        int bad = 0;
        StringBuilder first = new StringBuilder();
        for (int i = 0; i < got.length; i++) {
            boolean same = undefinedRefBlock(c, input, i / 32)
                    ? got[i] == expected[i]
                    : Float.floatToRawIntBits(got[i]) == Float.floatToRawIntBits(expected[i]);
            if (!same && bad++ < 5) {
                first.append(String.format(" value %d: got %08x want %08x;", i, Float.floatToRawIntBits(got[i]), Float.floatToRawIntBits(expected[i])));
            }
        }
        assertEquals(0, bad, c + ": " + bad + " of " + got.length + " floats differ:" + first);
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"})
    void rowLengthNotAMultipleOf32IsRefused(GgmlType type) {
        TensorCodec codec = TensorCodecs.codec(type);
        float[] x = new float[200];
        MemorySegment dst = MemorySegment.ofArray(new byte[1000]);
        var plain = assertThrows(IllegalArgumentException.class, () -> codec.quantize(x, 0, 200, 100, dst, 0));
        assertTrue(plain.getMessage().contains(type.name()) && plain.getMessage().contains("multiple of 32")
                && plain.getMessage().contains("100"), plain.getMessage());
        var weighted = assertThrows(IllegalArgumentException.class, () -> codec.quantize(x, 0, 200, 100, new float[100], dst, 0));
        assertTrue(weighted.getMessage().contains("multiple of 32"), weighted.getMessage());
        var partialRow = assertThrows(IllegalArgumentException.class, () -> codec.quantize(x, 0, 96, 64, dst, 0));
        assertTrue(partialRow.getMessage().contains("whole rows"), partialRow.getMessage());
        var shortImportance = assertThrows(IllegalArgumentException.class, () -> codec.quantize(x, 0, 64, 64, new float[32], dst, 0));
        assertTrue(shortImportance.getMessage().contains("importance"), shortImportance.getMessage());
        var partialBlock = assertThrows(IllegalArgumentException.class, () -> codec.dequantize(dst, 16, 32, 64, x, 0));
        assertTrue(partialBlock.getMessage().contains("whole blocks"), partialBlock.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TensorCodecs.quantize("w", new long[]{100, 2}, x, type));
    }

    @Test
    void iq4NlRefRefusesAPartialBlock() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new IQ4_NLCodec().quantizeRef(new float[40], 0, 40, MemorySegment.ofArray(new byte[36]), 0));
        assertTrue(e.getMessage().contains("multiple of 32"), e.getMessage());
    }

    /** Values on each type's grid (a scale that is a power of two) come back exactly. */
    @Test
    void valuesOnTheGridRoundTripExactly() {
        float[] q40 = new float[32], q41 = new float[32], q50 = new float[32], q51 = new float[32], nl = new float[32];
        for (int j = 0; j < 32; j++) {
            q40[j] = (j % 16 - 8) * 0.25f;          // max -2 -> d = 0.25
            q41[j] = -1 + (j % 16) * 0.125f;        // min -1, max 0.875 -> d = 0.125
            q50[j] = (j - 16) * 0.125f;             // max -2 -> d = 0.125
            q51[j] = -1 + j * 0.0625f;              // min -1, max 0.9375 -> d = 0.0625
            nl[j] = IQ4_NLCodec.VALUES[j % 16] / 128f;
        }
        assertArrayEquals(q40, roundTrip(GgmlType.Q4_0, q40, 32, null));
        assertArrayEquals(q41, roundTrip(GgmlType.Q4_1, q41, 32, null));
        assertArrayEquals(q50, roundTrip(GgmlType.Q5_0, q50, 32, null));
        assertArrayEquals(q51, roundTrip(GgmlType.Q5_1, q51, 32, null));
        assertArrayEquals(nl, roundTrip(GgmlType.IQ4_NL, nl, 32, null));
    }

    /** Constant, all-zero, negative-zero and subnormal blocks, with and without importance weights. */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"})
    void oddBlocksRoundTrip(GgmlType type) {
        float[] x = new float[160];
        Arrays.fill(x, 0, 32, 0.5f);
        Arrays.fill(x, 32, 64, -0.0f);
        for (int j = 64; j < 96; j++) x[j] = (j % 2 == 0 ? 1 : -1) * Float.MIN_VALUE * j;
        Arrays.fill(x, 96, 128, -3.75f);
        for (int j = 128; j < 160; j++) x[j] = j == 140 ? 1000f : 0.001f * (j - 144);
        float[] w = new float[160];
        Arrays.fill(w, 1f);
        for (float[] importance : new float[][]{null, w}) {
            float[] y = roundTrip(type, x, 160, importance);
            String where = type + (importance == null ? "" : " with importance");
            for (int j = 0; j < 128; j++) {
                float tol = j < 32 ? 0.5f / 8 : j >= 96 ? 3.75f / 8 : j >= 64 ? 1e-42f : 0;
                assertTrue(Math.abs(y[j] - x[j]) <= tol, where + " value " + j + ": " + x[j] + " came back " + y[j]);
            }
            assertTrue(Math.abs(y[140] - 1000f) <= 1000f / 8, where + " outlier came back " + y[140]);
            for (float v : y) assertFalse(Float.isNaN(v), where);
        }
        // a constant block is exact where the type can store it: Q4_1/Q5_1 as the min, Q4_0/Q5_0 as -8 d / -16 d
        if (type != GgmlType.IQ4_NL) assertEquals(0.5f, roundTrip(type, x, 160, null)[0], type.name());
    }

    /** Gaussian rows with outliers and scales that differ by block: errors within a step of each block's scale. */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"})
    void randomRowsRoundTripWithinAStep(GgmlType type) {
        Random rnd = new Random(7);
        int rowLength = 96, rows = 5;
        float[] x = new float[rowLength * rows];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, (i / 32) % 4 - 2));
        x[77] = 40f;
        float[] w = new float[rowLength];
        for (int i = 0; i < rowLength; i++) w[i] = 0.1f + rnd.nextFloat() * (i % 16 == 0 ? 10 : 1);
        int levels = switch (type) {
            case Q5_0, Q5_1 -> 31;
            default -> 15;
        };
        for (float[] importance : new float[][]{null, w}) {
            float[] y = roundTrip(type, x, rowLength, importance);
            for (int b = 0; b < x.length / 32; b++) {
                float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
                for (int j = 0; j < 32; j++) {
                    min = Math.min(min, x[b * 32 + j]);
                    max = Math.max(max, x[b * 32 + j]);
                }
                float step = 2 * Math.max(max, -min) / levels; // a symmetric grid over [-amax, amax]
                for (int j = 0; j < 32; j++) {
                    int i = b * 32 + j;
                    assertTrue(Math.abs(y[i] - x[i]) <= 1.5f * step,
                            type + (importance == null ? "" : " with importance") + " value " + i + ": " + x[i] + " came back " + y[i] + " (step " + step + ")");
                }
            }
        }
    }

    /** Offsets in the source array and the destination segment move the blocks and nothing else. */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL"})
    void offsetsAreHonoured(GgmlType type) {
        TensorCodec codec = TensorCodecs.codec(type);
        Random rnd = new Random(3);
        float[] x = new float[64 + 5];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        float[] w = new float[64];
        Arrays.fill(w, 2f);
        int bytes = 2 * type.blockBytes;
        for (float[] importance : new float[][]{null, w}) {
            byte[] plain = new byte[bytes];
            codec.quantize(Arrays.copyOfRange(x, 5, 69), 0, 64, 64, importance, MemorySegment.ofArray(plain), 0);
            byte[] shifted = new byte[bytes + 11];
            Arrays.fill(shifted, (byte) 0x5A);
            codec.quantize(x, 5, 64, 64, importance, MemorySegment.ofArray(shifted), 7);
            assertArrayEquals(plain, Arrays.copyOfRange(shifted, 7, 7 + bytes), type.name());
            for (int i : new int[]{0, 6, 7 + bytes, bytes + 10}) assertEquals((byte) 0x5A, shifted[i], type + " byte " + i);
            float[] second = new float[32 + 3];
            codec.dequantize(MemorySegment.ofArray(plain), 32, 32, 64, second, 3);
            float[] both = new float[64];
            codec.dequantize(MemorySegment.ofArray(plain), 0, 64, 64, both, 0);
            assertArrayEquals(Arrays.copyOfRange(both, 32, 64), Arrays.copyOfRange(second, 3, 35), type.name());
        }
    }

    /** Q4_0's Vector API quantizer against its scalar twin: odd block counts and offsets, and edge values. */
    @Test
    void q4_0VectorMatchesScalarTwin() {
        Assumptions.assumeTrue(Q4_0Codec.VECTOR_OK, "no 8- or 16-lane float vectors here; Q4_0 quantizes with the scalar code");
        Random rnd = new Random(11);
        float[] edges = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, -Float.MIN_VALUE,
                Float.MAX_VALUE, -Float.MAX_VALUE, 65504f, 65520f, 1e-8f, -1e-8f, 3f, -3f, 0.5f, -0.5f, 7.5f, -8f};
        float[][] fixed = new float[8][32];
        fixed[6] = subnormalBlock();                         // 1/d overflows
        for (int j = 0; j < 32; j++) fixed[7][j] = 0x1p-123f * (j - 9); // d just normal
        Arrays.fill(fixed[0], -0f);                          // all -0: ggml's d is 0/-8 = -0
        for (int j = 0; j < 32; j += 2) fixed[1][j] = -0f;   // +0 and -0
        Arrays.fill(fixed[2], Float.NaN);
        fixed[3][5] = -3f;                                   // equal magnitudes: the first one sets the sign of d
        fixed[3][9] = 3f;
        fixed[4][5] = 3f;
        fixed[4][25] = -3f;
        Arrays.fill(fixed[5], Float.NEGATIVE_INFINITY);
        for (float[] x : fixed) {
            byte[] scalar = new byte[18];
            byte[] vector = new byte[18];
            Q4_0Codec.quantizeScalar(x, 0, 32, MemorySegment.ofArray(scalar), 0);
            Q4_0Codec.quantizeVector(x, 0, 32, MemorySegment.ofArray(vector), 0);
            assertArrayEquals(scalar, vector, Arrays.toString(x));
        }
        for (int blocks : new int[]{1, 3, 7, 13}) {
            for (int trial = 0; trial < 200; trial++) {
                int offset = rnd.nextInt(5);
                float[] x = new float[offset + 32 * blocks];
                float scale = (float) Math.pow(10, rnd.nextInt(12) - 6);
                for (int i = offset; i < x.length; i++) {
                    x[i] = switch (trial % 4) {
                        case 0 -> (float) rnd.nextGaussian() * scale;
                        case 1 -> edges[rnd.nextInt(edges.length)];
                        case 2 -> rnd.nextInt(10) == 0 ? edges[rnd.nextInt(edges.length)] : (float) rnd.nextGaussian() * scale;
                        default -> (rnd.nextInt(17) - 8) * scale * (rnd.nextBoolean() ? 1 : -1); // ties of |max| with both signs
                    };
                }
                byte[] scalar = new byte[32 * blocks / 32 * 18 + 3];
                byte[] vector = new byte[scalar.length];
                Q4_0Codec.quantizeScalar(x, offset, 32 * blocks, MemorySegment.ofArray(scalar), 3);
                Q4_0Codec.quantizeVector(x, offset, 32 * blocks, MemorySegment.ofArray(vector), 3);
                int b = blocks, t = trial;
                assertArrayEquals(scalar, vector, () -> "blocks " + b + " trial " + t + ": " + Arrays.toString(x));
            }
        }
    }

    /** Q4_1/Q5_1's importance search, eight blocks in lanes, against the block-by-block scalar search. */
    @Test
    void minSearchLanesMatchScalarTwin() {
        Random rnd = new Random(5);
        float[] edges = {0f, -0f, 0.5f, -2f, 1e-20f, Float.MIN_VALUE, 3e4f, -1e-3f};
        for (int rowLength : new int[]{256, 320}) {
            for (int trial = 0; trial < 3; trial++) {
                float[] x = new float[2 * rowLength + 1];
                for (int i = 1; i < x.length; i++) {
                    int block = (i - 1) / 32;
                    x[i] = block % 5 == 0 ? 0.7f                                        // constant block
                            : block % 5 == 1 ? -Math.abs((float) rnd.nextGaussian())      // all negative
                            : trial % 2 == 0 && rnd.nextInt(8) == 0 ? edges[rnd.nextInt(edges.length)]
                            : (float) (rnd.nextGaussian() * Math.pow(10, block % 4 - 2));
                }
                float[] w = new float[rowLength];
                for (int i = 0; i < rowLength; i++) w[i] = 0.1f + rnd.nextFloat() * (i % 16 == 0 ? 10 : 1);
                for (GgmlType type : new GgmlType[]{GgmlType.Q4_1, GgmlType.Q5_1}) {
                    int bytes = 2 * rowLength / 32 * type.blockBytes;
                    byte[] lanes = new byte[bytes], scalar = new byte[bytes];
                    if (type == GgmlType.Q4_1) {
                        Q4_1Codec.quantizeWeighted(x, 1, 2 * rowLength, rowLength, w, MemorySegment.ofArray(lanes), 0, true);
                        Q4_1Codec.quantizeWeighted(x, 1, 2 * rowLength, rowLength, w, MemorySegment.ofArray(scalar), 0, false);
                    } else {
                        Q5_1Codec.quantizeWeighted(x, 1, 2 * rowLength, rowLength, w, MemorySegment.ofArray(lanes), 0, true);
                        Q5_1Codec.quantizeWeighted(x, 1, 2 * rowLength, rowLength, w, MemorySegment.ofArray(scalar), 0, false);
                    }
                    int r = rowLength, t = trial;
                    assertArrayEquals(scalar, lanes, () -> type + " row length " + r + " trial " + t);
                }
            }
        }
    }

    /** max 8e-39: d = max/-8 is subnormal and 1/d infinite, so x/d is infinite or NaN. */
    private static float[] subnormalBlock() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j % 3 == 0 ? -4e-39f : j % 3 == 1 ? 0f : 2e-39f;
        x[0] = 8e-39f;
        return x;
    }

    /**
     * Where x/d is infinite or NaN, ggml's casts to int8_t/uint8_t give 0 on x86-64 (cvttss2si's INT_MIN), where a
     * Java cast saturates; the expected bytes are ggml's quantize_row_*_ref built with gcc -O3 for x86-64.
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1"})
    void infiniteQuotientsQuantizeAsOnX86(GgmlType type) {
        byte[] out = new byte[type.blockBytes];
        Arrays.fill(out, (byte) 0x5A);
        TensorCodecs.codec(type).quantize(subnormalBlock(), 0, 32, 32, MemorySegment.ofArray(out), 0);
        int quantsAt = type == GgmlType.Q4_0 || type == GgmlType.Q5_0 ? 2 : 4;
        assertArrayEquals(new byte[type.blockBytes - quantsAt], Arrays.copyOfRange(out, quantsAt, out.length), type.name());
        float[] withInf = new float[32];
        for (int j = 0; j < 32; j++) withInf[j] = j % 2 == 1 ? 1f : -2f;
        withInf[7] = Float.POSITIVE_INFINITY;
        TensorCodecs.codec(type).quantize(withInf, 0, 32, 32, MemorySegment.ofArray(out), 0);
        if (type == GgmlType.Q4_0) {
            byte[] want = new byte[16];
            Arrays.fill(want, (byte) 0x88);
            want[7] = (byte) 0x80;
            assertArrayEquals(want, Arrays.copyOfRange(out, 2, 18));
        } else if (type == GgmlType.Q5_0) {
            assertArrayEquals(new byte[]{0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff}, Arrays.copyOfRange(out, 2, 6));
            assertArrayEquals(new byte[16], Arrays.copyOfRange(out, 6, 22));
        } else {
            assertArrayEquals(new byte[type.blockBytes - 4], Arrays.copyOfRange(out, 4, out.length), type.name());
        }
    }

    private static float[] roundTrip(GgmlType type, float[] x, int rowLength, float[] importance) {
        TensorCodec codec = TensorCodecs.codec(type);
        MemorySegment blocks = MemorySegment.ofArray(new byte[x.length / 32 * type.blockBytes]);
        codec.quantize(x, 0, x.length, rowLength, importance, blocks, 0);
        float[] y = new float[x.length];
        codec.dequantize(blocks, 0, x.length, rowLength, y, 0);
        return y;
    }
}
