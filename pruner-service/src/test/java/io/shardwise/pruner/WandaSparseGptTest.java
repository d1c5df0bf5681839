package io.shardwise.pruner;

import io.shardwise.core.calib.Hessian;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.Technique;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WandaSparseGptTest {
    static final TextDatasets NO_TEXTS = TextDatasets.withDemo("prune.calibration", Optional.empty(), Map.of(), List.of(), Path.of("/nonexistent"));

    /** N tokens of n correlated features with per-channel scales growing along j (some inputs matter far more). */
    static float[] inputs(int N, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] mix = new double[n * n];
        for (int i = 0; i < n * n; i++) mix[i] = r.nextGaussian() * 0.5 / Math.sqrt(n);
        for (int i = 0; i < n; i++) mix[i * n + i] += 1;
        float[] x = new float[N * n];
        double[] z = new double[n];
        for (int t = 0; t < N; t++) {
            for (int k = 0; k < n; k++) z[k] = r.nextGaussian();
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += z[k] * mix[k * n + j];
                x[t * n + j] = (float) (s * (j % 7 == 0 ? 8 : 1));
            }
        }
        return x;
    }

    static double[] hessian(float[] x, int N, int n) {
        Hessian h = new Hessian(n);
        h.add(x, 0, N, n);
        return h.matrix();
    }

    static double[] sumSquares(float[] x, int N, int n) {
        double[] s = new double[n];
        for (int t = 0; t < N; t++) for (int j = 0; j < n; j++) s[j] += (double) x[t * n + j] * x[t * n + j];
        return s;
    }

    /** ||(W - W') X^T||^2 / ||W X^T||^2 from the Hessian: tr(dW H dW^T) / tr(W H W^T). */
    static double outputError(float[] w, float[] p, int rows, int cols, double[] h) {
        double num = 0, den = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++) {
                double di = w[r * cols + i] - p[r * cols + i], wi = w[r * cols + i];
                for (int j = 0; j < cols; j++) {
                    num += di * h[i * cols + j] * (w[r * cols + j] - p[r * cols + j]);
                    den += wi * h[i * cols + j] * w[r * cols + j];
                }
            }
        }
        return num / den;
    }

    @Test
    void masksKeepTheHighestScoresPerGroupAndPerRow() {
        float[] s = {4, 1, 3, 2, /**/ 0, 0, 5, 5, /**/ 9, 8};
        boolean[] p = new boolean[s.length];
        assertEquals(2, NmSparsity.nOfM(s, 1, 10, 2, 4, p), "10 = 2*4 + 2: two dense");
        assertArrayEquals(new boolean[]{false, true, false, true, true, true, false, false, false, false}, p, "ties go to the lower index");
        boolean[] q = new boolean[s.length];
        NmSparsity.perRow(s, 2, 5, 2, q);
        assertArrayEquals(new boolean[]{false, true, false, false, true, true, true, false, false, false}, q);
        List<String> allowed = NmSparsity.allowedPatterns();
        assertTrue(allowed.containsAll(List.of("unstructured", "2:4", "4:8", "1:2", "15:16")));
        assertFalse(allowed.contains("4:2") || allowed.contains("4:4") || allowed.contains("0:4"));
        assertEquals(allowed.size(), new java.util.HashSet<>(allowed).size());
    }

    @Test
    void wandaWithEqualInputNormsIsPerRowMagnitudeAndALoudInputKeepsItsWeights() {
        int rows = 6, cols = 16;
        float[] w = MagnitudePruningTest.random(rows * cols, 1);
        double[] ones = new double[cols];
        java.util.Arrays.fill(ones, 1);
        float[] a = w.clone();
        Wanda.prune(a, rows, cols, ones, new MagnitudePruning.Unstructured(0.5));
        for (int r = 0; r < rows; r++) {
            float[] row = java.util.Arrays.copyOfRange(w, r * cols, (r + 1) * cols), pr = row.clone();
            MagnitudePruning.prune(pr, cols, new MagnitudePruning.Unstructured(0.5));
            assertArrayEquals(pr, java.util.Arrays.copyOfRange(a, r * cols, (r + 1) * cols), "row " + r);
        }
        double[] loud = ones.clone();
        loud[3] = 1e6;
        float[] b = w.clone();
        Wanda.prune(b, rows, cols, loud, new MagnitudePruning.NOfM(1, 4));
        for (int r = 0; r < rows; r++) assertEquals(w[r * cols + 3], b[r * cols + 3], "the loud input's weight is the one kept of its group");
        assertTrue(NmSparsity.follows(b, rows, cols, 1, 4));
        long zeros = 0;
        for (float v : b) if (v == 0f) zeros++;
        assertEquals(rows * cols * 3 / 4, zeros);
    }

    @Test
    void withAnIdentityHessianSparseGptIsMagnitudeWithinEachBlock() {
        int rows = 8, cols = 48;
        float[] w = MagnitudePruningTest.random(rows * cols, 2);
        double[] h = new double[cols * cols];
        for (int i = 0; i < cols; i++) h[i * cols + i] = 1;
        SparseGPT.Result r = SparseGPT.prune("w", rows, cols, w, h, new MagnitudePruning.NOfM(2, 4), new SparseGPT.Options(0.01, 16, null, 1));
        float[] m = w.clone();
        MagnitudePruning.prune(m, cols, new MagnitudePruning.NOfM(2, 4));
        assertArrayEquals(m, r.weights(), "no correlations: no updates, the saliency is |w|");
        SparseGPT.Result u = SparseGPT.prune("w", rows, cols, w, h, new MagnitudePruning.Unstructured(0.25), new SparseGPT.Options(0.01, 16, null, 2));
        assertEquals(rows * cols / 4, u.zeros());
        for (int b = 0; b < cols; b += 16) { // each block of 16 columns loses its own quarter, smallest |w| first
            float[] blk = new float[rows * 16], kept = new float[rows * 16];
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < 16; j++) {
                    blk[i * 16 + j] = w[i * cols + b + j];
                    kept[i * 16 + j] = u.weights()[i * cols + b + j];
                }
            }
            MagnitudePruning.prune(blk, 16, new MagnitudePruning.Unstructured(0.25));
            assertArrayEquals(blk, kept, "block " + b);
        }
    }

    @Test
    void onCorrelatedInputsSparseGptAndWandaLoseLessOutputThanMagnitude() {
        int rows = 32, cols = 96, N = 2000;
        float[] x = inputs(N, cols, 3);
        double[] h = hessian(x, N, cols), sq = sumSquares(x, N, cols);
        float[] w = MagnitudePruningTest.random(rows * cols, 4);
        for (MagnitudePruning.Pattern p : List.of(new MagnitudePruning.Unstructured(0.5), new MagnitudePruning.NOfM(2, 4), new MagnitudePruning.NOfM(4, 8))) {
            float[] mag = w.clone(), wan = w.clone();
            MagnitudePruning.prune(mag, cols, p);
            Wanda.prune(wan, rows, cols, sq, p);
            SparseGPT.Result sg = SparseGPT.prune("w", rows, cols, w, h, p, new SparseGPT.Options(0.01, 32, null, 3));
            double em = outputError(w, mag, rows, cols, h), ew = outputError(w, wan, rows, cols, h), es = outputError(w, sg.weights(), rows, cols, h);
            assertTrue(ew < em, p + ": wanda " + ew + " vs magnitude " + em);
            assertTrue(es < ew, p + ": sparsegpt " + es + " vs wanda " + ew);
            if (p instanceof MagnitudePruning.NOfM nm) {
                assertTrue(NmSparsity.follows(sg.weights(), rows, cols, nm.n(), nm.m()), p.toString());
                assertEquals(w.length / nm.m() * (nm.m() - nm.n()), sg.zeros());
            } else {
                assertEquals(w.length / 2, sg.zeros());
            }
        }
    }

    @Test
    void jointInt4QuantizationStoresTheGridItComputedWithExactZeros() {
        int rows = 16, cols = 64, N = 500;
        float[] x = inputs(N, cols, 5);
        float[] w = MagnitudePruningTest.random(rows * cols, 6);
        SparseGPT.Result r = SparseGPT.prune("w", rows, cols, w, hessian(x, N, cols), new MagnitudePruning.NOfM(2, 4),
                new SparseGPT.Options(0.01, 128, ChannelIntType.I4_ASYM_CH, 1));
        Tensor t = r.grid().tensor("w", r.codes(), rows, cols, Arena.ofAuto());
        assertEquals(ChannelIntType.I4_ASYM_CH, t.type());
        assertArrayEquals(r.weights(), TensorCodecs.dequantize(t), "the stored codes are the weights SparseGPT computed with");
        assertTrue(NmSparsity.follows(r.weights(), rows, cols, 2, 4));
        for (int i = 0; i < rows; i++) {
            java.util.Set<Float> levels = new java.util.HashSet<>();
            for (int j = 0; j < cols; j++) levels.add(r.weights()[i * cols + j]);
            assertTrue(levels.size() <= 16, "row " + i + " has " + levels.size() + " levels");
        }
    }

    @Test
    void owlSpreadsSparsityByOutliersAroundTheTarget() {
        double[] s = Owl.sparsities(new double[]{0.01, 0.03, 0.02, 0.01}, 0.5, 0.08);
        assertEquals(0.5, java.util.Arrays.stream(s).average().orElseThrow(), 1e-12);
        assertEquals(0.5 - 0.08 + (0.5 - 0.5), s[1], 0.08 + 1e-12, "the most outlier-heavy layer keeps the most");
        assertTrue(s[1] < s[2] && s[2] < s[0] && s[0] == s[3], java.util.Arrays.toString(s));
        assertEquals(0.16, s[0] - s[1], 1e-12, "the spread is 2 lambda");
        assertArrayEquals(new double[]{0.6, 0.6}, Owl.sparsities(new double[]{0.02, 0.02}, 0.6, 0.08), 1e-15);
        Owl.Ratio r = new Owl.Ratio();
        float[] w = {1, 1, 1, 1, 1, 1, 1, 100};
        double[] ones = {1, 1, 1, 1, 1, 1, 1, 1};
        r.addToMean(w, 1, 8, ones);
        r.mean(5);
        r.countOutliers(w, 1, 8, ones);
        assertEquals(1.0 / 8, r.ratio());
    }

    @Test
    void badParametersAreRefusedNamingTheParameter() {
        for (String method : List.of("wanda", "sparsegpt")) {
            var t = method.equals("wanda") ? new WandaTechnique(NO_TEXTS) : new SparseGptTechnique(NO_TEXTS);
            record Bad(Map<String, String> params, String field) {
            }
            List<Bad> bad = List.of(new Bad(Map.of("sparsity", "1.0"), "params.sparsity"), new Bad(Map.of("sparsity", "-0.1"), "params.sparsity"),
                    new Bad(Map.of("sparsity", "half"), "params.sparsity"), new Bad(Map.of("pattern", "4:2"), "params.pattern"),
                    new Bad(Map.of("pattern", "4:4"), "params.pattern"), new Bad(Map.of("pattern", "blocky"), "params.pattern"),
                    new Bad(Map.of("schedule", "cosine"), "params.schedule"), new Bad(Map.of("schedule", "owl", "pattern", "2:4"), "params.schedule"),
                    new Bad(Map.of("owl_lambda", "0.9"), "params.owl_lambda"), new Bad(Map.of("calib_samples", "0"), "params.calib_samples"));
            for (Bad b : bad) {
                var e = assertThrows(IllegalArgumentException.class, () -> t.apply(input(t.method(), b.params())), b.toString());
                assertTrue(e.getMessage().startsWith(method + ": " + b.field()), b + " -> " + e.getMessage());
            }
        }
        var s = new SparseGptTechnique(NO_TEXTS);
        for (var b : List.of(Map.of("quantize", "int3"), Map.of("damp", "0"), Map.of("block_size", "1.5"))) {
            var e = assertThrows(IllegalArgumentException.class, () -> s.apply(input("sparsegpt", b)));
            assertTrue(e.getMessage().startsWith("sparsegpt: params." + b.keySet().iterator().next()), e.getMessage());
        }
    }

    @Test
    void theTechniquesDescribeWhatTheGatewayChecksAtSubmit() {
        for (Technique d : List.of(new WandaTechnique(NO_TEXTS).describe(), new SparseGptTechnique(NO_TEXTS).describe(), new MagnitudeTechnique().describe())) {
            Map<String, ParamSpec> p = new LinkedHashMap<>();
            d.getParamsList().forEach(x -> p.put(x.getName(), x));
            ParamSpec sparsity = p.get("sparsity");
            assertTrue(sparsity.getMax() < 1 && sparsity.getMax() > 0.9999 && sparsity.getMin() == 0, d.getMethod() + ": sparsity 1 is refused at submit");
            assertTrue(p.get("pattern").getAllowedList().contains("2:4") && !p.get("pattern").getAllowedList().contains("4:2"), d.getMethod());
            if (!d.getMethod().equals("magnitude")) {
                assertTrue(p.get("schedule").getNeedsPlan(), "owl needs the plan shard");
                for (String n : List.of("calibration", "calib_samples", "calib_seq_len", "calib_seed", "calib_mode", "owl_lambda", "owl_m")) assertTrue(p.containsKey(n), n);
            }
        }
        assertTrue(new SparseGptTechnique(NO_TEXTS).describe().getParamsList().stream().anyMatch(x -> x.getName().equals("quantize") && x.getAllowedList().contains("int4")));
    }

    @Test
    void anOwlPlanRoundTripsThroughItsBlobAndAForeignBlobIsRefusedNamingIt(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        var blobs = new io.shardwise.core.blob.FileBlobStore(tmp);
        OwlPlan plan = new OwlPlan(new double[]{0.42, 0.5, 0.58}, new double[]{0.03, 0.02, 0.01});
        OwlPlan back = OwlPlan.load(blobs, plan.store(blobs));
        assertArrayEquals(plan.sparsity(), back.sparsity());
        assertArrayEquals(plan.outlierRatio(), back.outlierRatio());
        String foreign = blobs.put("{\"target_bpw\": 4}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        var e = assertThrows(IllegalArgumentException.class, () -> OwlPlan.load(blobs, foreign));
        assertTrue(e.getMessage().contains(foreign) && e.getMessage().contains("not an owl plan"), e.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> OwlPlan.load(blobs, "0".repeat(64)));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
    }

    private static ShardInput input(String method, Map<String, String> params) {
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.PRUNE).setMethod(method).putAllParams(params).build();
        return new ShardInput("job", stage, ShardRef.newBuilder().setShardId("block.0").build(), Map.of(), null, "", null, "", null, ShardInput.Progress.NONE);
    }
}
