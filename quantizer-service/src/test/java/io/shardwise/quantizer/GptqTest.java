package io.shardwise.quantizer;

import io.shardwise.core.calib.Hessian;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.GroupIntType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.proto.v1.ParamSpec;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GptqTest {
    static final Gptq.Options PLAIN = new Gptq.Options(false, false, 0.01, 128, 1);

    static float[] gaussian(int n, double sigma, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * sigma);
        return v;
    }

    /** N tokens of n correlated features (a random mix of n latent ones) with per-channel scales {@code scale[j]}. */
    static float[] correlated(int N, int n, double[] scale, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] mix = new double[n * n];
        for (int i = 0; i < n * n; i++) mix[i] = r.nextGaussian() / Math.sqrt(n);
        for (int i = 0; i < n; i++) mix[i * n + i] += 1;
        float[] x = new float[N * n];
        double[] z = new double[n];
        for (int t = 0; t < N; t++) {
            for (int k = 0; k < n; k++) z[k] = r.nextGaussian();
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += z[k] * mix[k * n + j];
                x[t * n + j] = (float) (s * scale[j]);
            }
        }
        return x;
    }

    static double[] hessian(float[] x, int N, int n) {
        Hessian h = new Hessian(n);
        for (int t = 0; t < N; t += 100) h.add(x, t * n, Math.min(100, N - t), n);
        return h.matrix();
    }

    static double[] ones(int n) {
        double[] s = new double[n];
        java.util.Arrays.fill(s, 1);
        return s;
    }

    static double[] identity(int n) {
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++) h[i * n + i] = 1;
        return h;
    }

    static Tensor gptq(float[] w, int rows, int cols, double[] h, TensorType type, Gptq.Options o) {
        return Gptq.quantize("w", rows, cols, w, h, type, o, Arena.ofAuto()).tensor();
    }

    static double relError(float[] w, Tensor q, int rows, int cols, double[] h) {
        double[] e = Gptq.outputError(w, TensorCodecs.dequantize(q), rows, cols, h);
        return e[0] / e[1];
    }

    @Test
    void withAnIdentityHessianEveryGroupIsRoundedAsTheRtnCodecDoesByteForByte() {
        int rows = 24, cols = 96;
        float[] w = gaussian(rows * cols, 0.05, 1);
        w[5] = 0.4f; // an outlier: the largest magnitude picks the scale's sign
        w[cols + 7] = -0.37f;
        List<TensorType> types = List.of(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
                ChannelIntType.I4_ASYM_CH, ChannelIntType.I8_ASYM_CH, new GroupIntType(3, 32, true), new GroupIntType(6, 48, false));
        for (TensorType type : types) {
            byte[] rtn = Rtn.quantize("w", new long[]{cols, rows}, w, type).tensor().data().toArray(ValueLayout.JAVA_BYTE);
            for (boolean actOrder : new boolean[]{false, true}) {
                Tensor q = gptq(w, rows, cols, identity(cols), type, new Gptq.Options(actOrder, false, 0.01, 32, 1));
                assertEquals(type, q.type());
                assertArrayEquals(rtn, q.data().toArray(ValueLayout.JAVA_BYTE), type + " act_order " + actOrder);
            }
        }
    }

    @Test
    void onCorrelatedInputsGptqHasLessOutputErrorThanRtn() {
        int N = 2048, cols = 64, rows = 32;
        float[] x = correlated(N, cols, ones(cols), 2);
        double[] h = hessian(x, N, cols);
        float[] w = gaussian(rows * cols, 0.1, 3);
        for (TensorType type : List.of(GgmlType.Q4_0, GgmlType.Q4_1, ChannelIntType.I4_ASYM_CH, new GroupIntType(3, 16, true), new GroupIntType(2, 64, false))) {
            double rtn = relError(w, Rtn.quantize("w", new long[]{cols, rows}, w, type).tensor(), rows, cols, h);
            double gptq = relError(w, gptq(w, rows, cols, h, type, PLAIN), rows, cols, h);
            assertTrue(gptq < 0.8 * rtn, type + ": gptq " + gptq + " rtn " + rtn);
        }
    }

    @Test
    void actOrderHelpsWhenAFewInputChannelsDominate() {
        int N = 2048, cols = 64, rows = 32;
        double[] scale = ones(cols);
        for (int j = 0; j < cols; j += 9) scale[j] = 12; // a few loud channels, spread over the row
        float[] x = correlated(N, cols, scale, 4);
        double[] h = hessian(x, N, cols);
        float[] w = gaussian(rows * cols, 0.1, 5);
        TensorType type = new GroupIntType(3, 64, false);
        double plain = relError(w, gptq(w, rows, cols, h, type, PLAIN), rows, cols, h);
        double ordered = relError(w, gptq(w, rows, cols, h, type, new Gptq.Options(true, false, 0.01, 128, 1)), rows, cols, h);
        assertTrue(ordered < 0.9 * plain, "act_order " + ordered + " vs natural order " + plain);
    }

    @Test
    void staticGroupsKeepTheGridsOfTheOriginalWeightsAndDynamicOnesRefitThem() {
        int N = 1024, cols = 64, rows = 16;
        float[] x = correlated(N, cols, ones(cols), 6);
        double[] h = hessian(x, N, cols);
        float[] w = gaussian(rows * cols, 0.1, 7);
        GroupIntType type = new GroupIntType(4, 16, false);
        Tensor rtn = Rtn.quantize("w", new long[]{cols, rows}, w, type).tensor();
        Tensor fixed = gptq(w, rows, cols, h, type, new Gptq.Options(false, true, 0.01, 128, 1));
        Tensor dynamic = gptq(w, rows, cols, h, type, PLAIN);
        int groups = rows * cols / 16, same = 0;
        for (int g = 0; g < groups; g++) {
            long at = (long) g * type.groupBytes();
            assertEquals(scale(rtn, at), scale(fixed, at), "static group " + g + " scale");
            assertEquals(rtn.data().get(Tensor.F32_LE, at + 4), fixed.data().get(Tensor.F32_LE, at + 4), "static group " + g + " zero");
            if (scale(rtn, at) == scale(dynamic, at)) same++;
        }
        assertTrue(same <= rows + groups / 4, "the first group of a row sees no updates, later ones are refitted: " + same + " of " + groups + " unchanged");
        assertTrue(relError(w, fixed, rows, cols, h) < relError(w, rtn, rows, cols, h));
        assertTrue(relError(w, dynamic, rows, cols, h) < relError(w, rtn, rows, cols, h));
    }

    private static float scale(Tensor t, long at) {
        return t.data().get(Tensor.F32_LE, at);
    }

    @Test
    void symmetricAndAsymmetricGridsDecodeOnTheirLevels() {
        int N = 512, cols = 32, rows = 8;
        double[] h = hessian(correlated(N, cols, ones(cols), 8), N, cols);
        float[] w = gaussian(rows * cols, 0.1, 9);
        for (int i = 0; i < w.length; i++) w[i] += 0.05f; // off-centre: asymmetric grids pay off
        for (boolean sym : new boolean[]{true, false}) {
            GroupIntType type = new GroupIntType(4, 32, sym);
            Tensor q = gptq(w, rows, cols, h, type, PLAIN);
            float[] y = TensorCodecs.dequantize(q);
            for (int r = 0; r < rows; r++) {
                long at = (long) r * type.groupBytes();
                float s = scale(q, at), zero = sym ? 8 : q.data().get(Tensor.F32_LE, at + 4);
                for (int c = 0; c < cols; c++) {
                    float level = y[r * cols + c] / s + zero;
                    assertEquals(Math.round(level), level, 1e-3, type + " row " + r + " col " + c);
                    assertTrue(level >= -1e-3 && level <= 15 + 1e-3);
                }
            }
        }
        double sym = relError(w, gptq(w, rows, cols, h, new GroupIntType(4, 32, true), PLAIN), rows, cols, h);
        double asym = relError(w, gptq(w, rows, cols, h, new GroupIntType(4, 32, false), PLAIN), rows, cols, h);
        assertTrue(asym < sym, "asym " + asym + " sym " + sym);
    }

    @Test
    void deadInputsGetZeroWeightsAndTwoThreadsGiveTheSameBytesAsOne() {
        int N = 512, cols = 64, rows = 40;
        float[] x = correlated(N, cols, ones(cols), 10);
        for (int t = 0; t < N; t++) x[t * cols + 3] = 0; // input 3 never fires
        double[] h = hessian(x, N, cols);
        float[] w = gaussian(rows * cols, 0.1, 11);
        Tensor one = gptq(w, rows, cols, h, GgmlType.Q4_0, new Gptq.Options(true, false, 0.01, 16, 1));
        Tensor two = gptq(w, rows, cols, h, GgmlType.Q4_0, new Gptq.Options(true, false, 0.01, 16, 2));
        assertEquals(-1, one.data().mismatch(two.data()));
        float[] y = TensorCodecs.dequantize(one);
        for (int r = 0; r < rows; r++) assertEquals(0f, y[r * cols + 3], 0f, "row " + r);
    }

    @Test
    void aPrunedMaskSurvivesGptqExactlyWhereTheGridHoldsZero() {
        int N = 512, cols = 64, rows = 32;
        double[] h = hessian(correlated(N, cols, ones(cols), 12), N, cols);
        float[] w = gaussian(rows * cols, 0.1, 13);
        for (int i = 0; i < w.length; i++) if ((i & 3) < 2) w[i] = 0; // 2:4, as SparseGPT leaves it
        for (TensorType type : List.of(GgmlType.Q4_0, GgmlType.Q8_0, ChannelIntType.I4_ASYM_CH, new GroupIntType(4, 32, false))) {
            Tensor keptQ = gptq(w, rows, cols, h, type, new Gptq.Options(true, false, 0.01, 16, 1, true));
            float[] kept = TensorCodecs.dequantize(keptQ);
            float[] refilled = TensorCodecs.dequantize(gptq(w, rows, cols, h, type, new Gptq.Options(true, false, 0.01, 16, 1, false)));
            int zerosKept = 0, zerosRefilled = 0;
            for (int i = 0; i < w.length; i++) {
                if (w[i] != 0) continue;
                if (kept[i] == 0f) zerosKept++;
                if (refilled[i] == 0f) zerosRefilled++;
            }
            assertEquals(w.length / 2, zerosKept, type.typeName() + ": every pruned weight stays exactly zero");
            assertTrue(zerosRefilled < w.length / 2, type.typeName() + ": without keep_zeros the updates refill some of the mask (" + zerosRefilled + " zeros left)");
            // keeping the mask is a constraint: its output error is higher than free GPTQ's, but still well below the weights' energy
            double errKept = relError(w, keptQ, rows, cols, h);
            assertTrue(errKept < 0.05, type.typeName() + ": relative output error with the mask kept " + errKept);
        }
    }

    @Test
    void aHessianThatIsNotPositiveDefiniteIsDampedTenfoldThenRefusedNamingTheTensor() {
        // eigenvalues 1 and -0.005: damp 0.01 * mean 0.4975 leaves it negative, 0.1 fixes it
        double[] h = {1, 0, 0, -0.005};
        double[] used = new double[1];
        double[] u = Gptq.upperCholeskyOfInverse("blk.0.attn_q.weight", h, 2, 0.01, used);
        assertEquals(0.1, used[0], 1e-12);
        assertEquals(1 / Math.sqrt(1 + 0.1 * 0.4975), u[0], 1e-9);
        double[] negative = {-1, 0.5, 0.5, -2};
        var e = assertThrows(IllegalStateException.class, () -> Gptq.upperCholeskyOfInverse("blk.3.ffn_down.weight", negative, 2, 0.01, used));
        assertTrue(e.getMessage().contains("blk.3.ffn_down.weight") && e.getMessage().contains("not positive definite")
                && e.getMessage().contains("damp tried 0.01, 0.1, 1.0, 10.0"), e.getMessage());
        // a rank-1 Hessian (one direction of inputs) is made definite by the first damping
        float[] x = new float[32 * 8];
        for (int t = 0; t < 32; t++) for (int j = 0; j < 8; j++) x[t * 8 + j] = (t % 5 - 2) * (j + 1);
        Gptq.upperCholeskyOfInverse("rank1", hessian(x, 32, 8), 8, 0.01, used);
        assertEquals(0.01, used[0]);
    }

    @Test
    void badParametersAreRefusedNamingTheField() {
        Map<String, String> ok = Map.of();
        assertEquals(4, GptqTechnique.Settings.parse(ok).bits());
        for (var c : List.of(Map.entry("bits", "9"), Map.entry("bits", "1"), Map.entry("bits", "four"), Map.entry("group_size", "0"),
                Map.entry("group_size", "-2"), Map.entry("damp", "2"), Map.entry("damp", "0"), Map.entry("damp", "x"),
                Map.entry("block_size", "0"), Map.entry("sym", "maybe"), Map.entry("act_order", "yes"), Map.entry("format", "gguf"))) {
            var e = assertThrows(IllegalArgumentException.class, () -> GptqTechnique.Settings.parse(Map.of(c.getKey(), c.getValue())), c.toString());
            assertTrue(e.getMessage().contains("params." + c.getKey()), c + ": " + e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> new GptqGrid(GgmlType.Q4_K, 4, 256));
        assertTrue(e.getMessage().contains("Q4_K"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Gptq.Options(true, false, 0.01, 0, 1));
        assertTrue(e.getMessage().contains("params.block_size"), e.getMessage());
    }

    @Test
    void formatsMapToGgufTypesOnlyWhereTheGridIsTheSame() {
        record Case(Map<String, String> p, String type) {
        }
        for (Case c : List.of(new Case(Map.of("group_size", "32"), "Q4_0"), new Case(Map.of("group_size", "32", "sym", "false"), "Q4_1"),
                new Case(Map.of("group_size", "32", "bits", "5"), "Q5_0"), new Case(Map.of("group_size", "32", "bits", "5", "sym", "false"), "Q5_1"),
                new Case(Map.of("group_size", "32", "bits", "8"), "Q8_0"), new Case(Map.of("group_size", "32", "bits", "8", "sym", "false"), "I8_ASYM_G32"),
                new Case(Map.of("group_size", "-1", "sym", "false"), "I4_ASYM_CH"), new Case(Map.of("group_size", "-1", "bits", "8", "sym", "false"), "I8_ASYM_CH"),
                new Case(Map.of("group_size", "-1"), "I4_SYM_G64"), new Case(Map.of(), "I4_SYM_G128"),
                new Case(Map.of("group_size", "32", "format", "int"), "I4_SYM_G32"), new Case(Map.of("bits", "3", "group_size", "32"), "I3_SYM_G32"))) {
            assertEquals(c.type(), GptqTechnique.Settings.parse(c.p()).type(64).typeName(), c.p().toString());
            assertEquals(c.type(), TensorType.parse(c.type()).typeName());
        }
    }

    @Test
    void theTechniqueDescribesItsParameters() {
        var d = new GptqTechnique(new CalibrationTexts(Optional.empty(), Map.of(), List.of(), Path.of("/nonexistent"))).describe();
        assertEquals("gptq", d.getMethod());
        ParamSpec g = d.getParamsList().stream().filter(p -> p.getName().equals("group_size")).findFirst().orElseThrow();
        assertEquals("fallback", g.getDividesRowsUnless());
        for (String n : List.of("bits", "sym", "act_order", "static_groups", "damp", "block_size", "format", "calibration", "calib_mode", "ignore", "overrides", "fallback")) {
            assertTrue(d.getParamsList().stream().anyMatch(p -> p.getName().equals(n)), n);
        }
    }
}
