package io.shardwise.core.runtime;

import io.shardwise.core.quant.F16Codec;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The row kernels: vector twin against scalar twin, scalar against float dots of ggml's own dequantized weights, and ggml's activation quantizers byte for byte. */
class RowKernelsTest {
    private static final RowKernels V = VectorRowKernels.INSTANCE, S = ScalarRowKernels.INSTANCE;
    private static final List<GgmlType> NATIVE = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K);
    private final SplittableRandom rnd = new SplittableRandom(11);

    private float[] gaussian(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (nextGaussian() * scale);
        return x;
    }

    private double nextGaussian() {
        double u1 = rnd.nextDouble(), u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u1 + 1e-12)) * Math.cos(2 * Math.PI * u2);
    }

    /** Random weight rows of any native type: floats encoded directly, quantized blocks as random bytes with sane fp16 scales. */
    private MemorySegment randomRows(GgmlType t, int rows, int n) {
        byte[] bytes = new byte[Math.toIntExact(t.byteSize(new long[]{n, rows}))];
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        switch (t) {
            case F32 -> { for (int i = 0; i < n * rows; i++) bb.putFloat(4 * i, (float) nextGaussian()); }
            case F16 -> { for (int i = 0; i < n * rows; i++) bb.putShort(2 * i, F16Codec.floatToHalf((float) nextGaussian())); }
            case BF16 -> { for (int i = 0; i < n * rows; i++) bb.putShort(2 * i, (short) (Float.floatToRawIntBits((float) nextGaussian()) >>> 16)); }
            default -> {
                rnd.nextBytes(bytes);
                for (int b = 0; b < bytes.length / t.blockBytes; b++) {
                    int o = b * t.blockBytes;
                    int[] scaleAt = switch (t) {
                        case Q4_K -> new int[]{o, o + 2};
                        case Q6_K -> new int[]{o + 208};
                        default -> new int[]{o};
                    };
                    for (int at : scaleAt) bb.putShort(at, F16Codec.floatToHalf((float) (0.001 + rnd.nextDouble() * 0.05)));
                }
            }
        }
        return MemorySegment.ofArray(bytes);
    }

    private static int[] sizes(GgmlType t) {
        return switch (t) {
            case F32, F16, BF16 -> new int[]{1, 15, 17, 33, 64, 100, 288};
            case Q8_0, Q4_0 -> new int[]{32, 64, 96, 160, 288, 1024};
            default -> new int[]{256, 512, 768};
        };
    }

    /** The dot as exact arithmetic over the scalar twin's own view of the row: weights dequantized through the twin with one-hot activations is circular, so use the reference dequantizers. */
    private static double absDot(float[] w, Activation a, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.abs((double) w[i] * a.value(i));
        return s;
    }

    @Test
    void vectorMatchesScalarOnEveryNativeType() {
        for (GgmlType t : NATIVE) {
            for (int n : sizes(t)) {
                int rows = 7;
                MemorySegment w = randomRows(t, rows + 2, n);
                float[] x = gaussian(n, 1);
                Activation as = new Activation(), av = new Activation();
                S.prepare(t, x, 0, n, as);
                V.prepare(t, x, 0, n, av);
                float[] ys = new float[rows + 3], yv = new float[rows + 3];
                S.matvec(t, w, n, 2, 2 + rows, as, ys, 3);
                V.matvec(t, w, n, 2, 2 + rows, av, yv, 3);
                for (int r = 0; r < rows; r++) {
                    float[] row = dequantizedRow(t, w, n, 2 + r);
                    double tol = 2e-6 * absDot(row, as, n) + 1e-30;
                    assertEquals(ys[3 + r], yv[3 + r], tol, t + " n=" + n + " row " + r);
                }
                assertEquals(0f, yv[0]);
            }
        }
    }

    /** A row decoded without the kernels: the codec when one is registered, else the twin's dots with one-hot float math (F types only). */
    private static float[] dequantizedRow(GgmlType t, MemorySegment w, int n, int r) {
        float[] row = new float[n];
        if (TensorCodecs.supports(t)) {
            TensorCodecs.codec(t).dequantize(w, (long) r * n, n, n, row, 0);
            return row;
        }
        return Ref.dequantize(t, w, (long) r * t.byteSize(new long[]{n}), n);
    }

    @Test
    void scalarQuantizedDotsEqualFloatDotsOfGgmlsDequantizedWeights() throws IOException {
        for (String type : new String[]{"q8_0", "q4_0", "q4_K", "q6_K"}) {
            GgmlType t = GgmlType.valueOf(type.toUpperCase());
            for (String set : new String[]{"", ".n512"}) {
                byte[] blocks = Files.readAllBytes(SharedData.require("ggml-vectors/" + type + set + ".blocks.bin"));
                float[] deq = floats(type + set + ".dequant.f32");
                int n = set.isEmpty() ? 256 : 512, rows = deq.length / n;
                MemorySegment w = MemorySegment.ofArray(blocks);
                for (float scale : new float[]{1f, 1e-3f, 300f}) {
                    float[] x = gaussian(n, scale);
                    Activation a = new Activation();
                    S.prepare(t, x, 0, n, a);
                    Activation av = new Activation();
                    V.prepare(t, x, 0, n, av);
                    float[] ys = new float[rows], yv = new float[rows];
                    S.matvec(t, w, n, 0, rows, a, ys, 0);
                    V.matvec(t, w, n, 0, rows, av, yv, 0);
                    for (int r = 0; r < rows; r++) {
                        double want = 0, abs = 0;
                        for (int i = 0; i < n; i++) {
                            want += (double) deq[r * n + i] * a.value(i);
                            abs += Math.abs((double) deq[r * n + i] * a.value(i));
                        }
                        assertEquals(want, ys[r], 2e-6 * abs + 1e-35, type + set + " row " + r + " scale " + scale);
                        assertEquals(ys[r], yv[r], 2e-6 * abs + 1e-35, "vector " + type + set + " row " + r);
                    }
                }
            }
        }
    }

    @Test
    void oneBlockDotsWithIntegerActivationsAreExact() {
        // |x| <= 127 integers with -127 present: Q8_0's d is exactly 1, so the dot is one rounding of an exact sum
        for (GgmlType t : List.of(GgmlType.Q8_0, GgmlType.Q4_0)) {
            MemorySegment w = randomRows(t, 5, 32);
            float[] x = new float[32];
            for (int i = 0; i < 32; i++) x[i] = rnd.nextInt(-127, 128);
            x[rnd.nextInt(32)] = -127;
            for (RowKernels k : List.of(S, V)) {
                Activation a = new Activation();
                k.prepare(t, x, 0, 32, a);
                float[] y = new float[5];
                k.matvec(t, w, 32, 0, 5, a, y, 0);
                for (int r = 0; r < 5; r++) {
                    float[] row = Ref.dequantize(t, w, (long) r * t.blockBytes, 32);
                    double want = 0, abs = 0;
                    for (int i = 0; i < 32; i++) {
                        want += (double) row[i] * x[i];
                        abs += Math.abs((double) row[i] * x[i]);
                    }
                    // the scalar twin sums the block in int, then rounds once; the vector one rounds per lane
                    if (k == S) assertEquals((float) want, y[r], t + " row " + r);
                    else assertEquals(want, y[r], 1e-6 * abs, "vector " + t + " row " + r);
                }
            }
        }
    }

    @Test
    void activationQuantizersMatchGgmlByteForByte() throws IOException {
        for (String set : new String[]{"", ".n512"}) {
            int n = set.isEmpty() ? 256 : 512;
            float[] in = floats("q8_0" + set + ".input.f32");
            ByteBuffer q80 = ByteBuffer.wrap(Files.readAllBytes(SharedData.require("ggml-vectors/q8_0" + set + ".blocks.bin"))).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer q8k = ByteBuffer.wrap(Files.readAllBytes(SharedData.require("ggml-vectors/q8_K" + set + ".blocks.bin"))).order(ByteOrder.LITTLE_ENDIAN);
            Activation a = new Activation();
            for (int r = 0; r < in.length / n; r++) {
                V.prepare(GgmlType.Q4_0, in, r * n, n, a);
                for (int b = 0; b < n / 32; b++) {
                    int o = (r * n / 32 + b) * 34;
                    assertEquals(F16Codec.halfToFloat(q80.getShort(o)), a.d[b], "q8_0 d row " + r + " block " + b);
                    for (int j = 0; j < 32; j++) assertEquals(q80.get(o + 2 + j), a.q[b * 32 + j], "q8_0 row " + r + " value " + (b * 32 + j));
                }
                S.prepare(GgmlType.Q6_K, in, r * n, n, a);
                for (int b = 0; b < n / 256; b++) {
                    int o = (r * n / 256 + b) * 292;
                    assertEquals(q8k.getFloat(o), a.d[b], "q8_K d row " + r);
                    for (int j = 0; j < 256; j++) assertEquals(q8k.get(o + 4 + j), a.q[b * 256 + j], "q8_K row " + r + " value " + j);
                    for (int g = 0; g < 16; g++) assertEquals(q8k.getShort(o + 260 + 2 * g), a.sums[b * 16 + g], "q8_K bsums row " + r);
                }
            }
        }
    }

    @Test
    void batchedMatmulEqualsMatvecPerToken() {
        for (GgmlType t : NATIVE) {
            int n = t.blockSize == 256 ? 512 : 64, rows = 9, T = 3, ldy = 11;
            MemorySegment w = randomRows(t, rows, n);
            for (RowKernels k : List.of(S, V)) {
                Activation[] as = new Activation[T];
                float[] y = new float[T * ldy];
                for (int tok = 0; tok < T; tok++) k.prepare(t, gaussian(n, 1), 0, n, as[tok] = new Activation());
                k.matmul(t, w, n, 1, rows, as, T, y, ldy);
                for (int tok = 0; tok < T; tok++) {
                    float[] one = new float[rows - 1];
                    k.matvec(t, w, n, 1, rows, as[tok], one, 0);
                    for (int r = 1; r < rows; r++) assertEquals(one[r - 1], y[tok * ldy + r], t + " token " + tok + " row " + r);
                    assertEquals(0f, y[tok * ldy]);
                }
            }
        }
    }

    @Test
    void otherTypesTakeTheSlowPathThroughTheirCodec() {
        int n = 256, rows = 5;
        List<TensorType> slow = new java.util.ArrayList<>(List.of(ChannelIntType.values()));
        for (GgmlType g : GgmlType.values()) if (!NATIVE.contains(g) && g.isQuantized() && g != GgmlType.Q8_K && g != GgmlType.Q8_1) slow.add(g);
        int tested = 0;
        for (TensorType t : slow) {
            if (!TensorCodecs.supports(t)) {
                System.out.println("slow path for " + t.typeName() + " not tested yet: no codec registered");
                continue;
            }
            float[] wf = gaussian(n * rows, 0.05);
            MemorySegment w = TensorCodecs.quantize("w", new long[]{n, rows}, wf, t).data();
            float[] deq = new float[n * rows];
            TensorCodecs.codec(t).dequantize(w, 0, n * rows, n, deq, 0);
            float[] x = gaussian(n, 1);
            for (RowKernels k : List.of(S, V)) {
                Activation a = new Activation();
                k.prepare(t, x, 0, n, a);
                assertEquals(GgmlType.F32, a.kind());
                float[] y = new float[rows];
                k.matvec(t, w, n, 0, rows, a, y, 0);
                for (int r = 0; r < rows; r++) {
                    double want = 0, abs = 0;
                    for (int i = 0; i < n; i++) {
                        want += (double) deq[r * n + i] * x[i];
                        abs += Math.abs((double) deq[r * n + i] * x[i]);
                    }
                    assertEquals(want, y[r], 1e-5 * abs, t.typeName() + " row " + r);
                }
                // batched (each row dequantized once for all tokens) gives per-token matvec's numbers exactly
                int T = 3, ldy = rows + 2;
                Activation[] as = new Activation[T];
                for (int tok = 0; tok < T; tok++) k.prepare(t, gaussian(n, 1), 0, n, as[tok] = new Activation());
                float[] yb = new float[T * ldy];
                k.matmul(t, w, n, 1, rows, as, T, yb, ldy);
                for (int tok = 0; tok < T; tok++) {
                    float[] one = new float[rows - 1];
                    k.matvec(t, w, n, 1, rows, as[tok], one, 0);
                    for (int r = 1; r < rows; r++) assertEquals(one[r - 1], yb[tok * ldy + r], t.typeName() + " batched token " + tok + " row " + r);
                    assertEquals(0f, yb[tok * ldy], t.typeName() + ": rows outside [r0, r1) untouched");
                }
            }
            tested++;
        }
        assertTrue(tested >= 2, "the per-channel types always have codecs");
    }

    @Test
    void halfDecodeMatchesJavaForEveryBitPattern() {
        byte[] all = new byte[2 * 65536 + 64];
        ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        for (int h = 0; h < 65536; h++) bb.putShort(2 * h, (short) h);
        MemorySegment w = MemorySegment.ofArray(all);
        int lanes = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
        float[] out = new float[lanes];
        for (int h = 0; h < 65536; h += lanes) {
            VectorRowKernels.halfsToFloats(w, 2L * h).intoArray(out, 0);
            for (int i = 0; i < lanes; i++) {
                float want = Float.float16ToFloat((short) (h + i));
                if (Float.isNaN(want)) assertTrue(Float.isNaN(out[i]), "half " + Integer.toHexString(h + i));
                else assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[i]), "half " + Integer.toHexString(h + i));
            }
        }
    }

    @Test
    void misuseFailsWithClearErrors() {
        Activation a = new Activation();
        float[] x = gaussian(64, 1);
        MemorySegment w = randomRows(GgmlType.Q8_0, 4, 64);
        for (RowKernels k : List.of(S, V)) {
            assertThrows(IllegalArgumentException.class, () -> k.prepare(GgmlType.Q8_0, x, 0, 40, a));
            assertThrows(IllegalArgumentException.class, () -> k.prepare(GgmlType.Q4_K, x, 0, 64, a));
            assertThrows(IndexOutOfBoundsException.class, () -> k.prepare(GgmlType.F32, x, 30, 40, a));
            k.prepare(GgmlType.F32, x, 0, 64, a);
            var e = assertThrows(IllegalArgumentException.class, () -> k.matvec(GgmlType.Q8_0, w, 64, 0, 4, a, new float[4], 0));
            assertTrue(e.getMessage().contains("Q8_0"), e.getMessage());
            k.prepare(GgmlType.Q8_0, x, 0, 64, a);
            assertThrows(IndexOutOfBoundsException.class, () -> k.matvec(GgmlType.Q8_0, w, 64, 0, 5, a, new float[5], 0));
            assertThrows(IllegalArgumentException.class, () -> k.matvec(GgmlType.Q8_0, w, 32, 0, 4, a, new float[5], 0));
        }
    }

    private static float[] floats(String file) throws IOException {
        byte[] b = Files.readAllBytes(SharedData.require("ggml-vectors/" + file));
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    /** Reference dequantizers written from ggml's block layouts (README table), independent of the kernels and of codecs under construction. */
    static final class Ref {
        static float[] dequantize(GgmlType t, MemorySegment w, long at, int n) {
            ByteBuffer bb = w.asSlice(at, t.byteSize(new long[]{n})).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[n];
            for (int b = 0; b < n / t.blockSize; b++) {
                int o = b * t.blockBytes, e = b * t.blockSize;
                switch (t) {
                    case F32 -> out[b] = bb.getFloat(4 * b);
                    case F16 -> out[b] = Float.float16ToFloat(bb.getShort(2 * b));
                    case BF16 -> out[b] = Float.intBitsToFloat(bb.getShort(2 * b) << 16);
                    case Q8_0 -> { for (int j = 0; j < 32; j++) out[e + j] = bb.get(o + 2 + j) * Float.float16ToFloat(bb.getShort(o)); }
                    case Q4_0 -> {
                        float d = Float.float16ToFloat(bb.getShort(o));
                        for (int j = 0; j < 16; j++) {
                            out[e + j] = ((bb.get(o + 2 + j) & 0xF) - 8) * d;
                            out[e + 16 + j] = (((bb.get(o + 2 + j) & 0xFF) >> 4) - 8) * d;
                        }
                    }
                    case Q4_K -> {
                        float d = Float.float16ToFloat(bb.getShort(o)), dmin = Float.float16ToFloat(bb.getShort(o + 2));
                        for (int sb = 0; sb < 8; sb++) {
                            int sc = WeightRows.q4kScaleMin(w, at + o + 4, sb), m = WeightRows.q4kScaleMin(w, at + o + 4, sb + 8);
                            for (int l = 0; l < 32; l++) {
                                int q = ((bb.get(o + 16 + 32 * (sb / 2) + l) & 0xFF) >> (4 * (sb & 1))) & 0xF;
                                out[e + 32 * sb + l] = d * sc * q - dmin * m;
                            }
                        }
                    }
                    case Q6_K -> {
                        float d = Float.float16ToFloat(bb.getShort(o + 208));
                        for (int i = 0; i < 256; i++) {
                            int half = i / 128, k = (i % 128) / 32, l = i % 32;
                            int lo = ((bb.get(o + 64 * half + l + 32 * (k & 1)) & 0xFF) >> (4 * (k >> 1))) & 0xF;
                            int hi = ((bb.get(o + 128 + 32 * half + l) & 0xFF) >> (2 * k)) & 3;
                            out[e + i] = d * bb.get(o + 192 + i / 16) * ((lo | hi << 4) - 32);
                        }
                    }
                    default -> throw new IllegalArgumentException(t.toString());
                }
            }
            return out;
        }
    }
}
