package io.shardwise.pruner;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MlpChannelPruningTest {
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

    @Test
    void keepsTheHighestScoresInOrder() {
        double[] s = {0.5, 0.1, 3, 0.2, 2};
        assertArrayEquals(new int[]{0, 2, 4}, MlpChannelPruning.keep(s, 2));
        assertArrayEquals(new int[]{0, 1, 2, 3, 4}, MlpChannelPruning.keep(s, 0));
        // activation norm times the ffn_down column norm: channel 1 has the larger activations but a zero column
        double[] scores = MlpChannelPruning.scores(new double[]{1, 100}, new float[]{1, 0, 2, 0}, 2, 2);
        assertEquals(Math.sqrt(5), scores[0], 1e-12);
        assertEquals(0, scores[1]);
        float[] w = {1, 2, 3, 4, 5, 6};
        assertArrayEquals(new float[]{1, 3, 4, 6}, MlpChannelPruning.selectColumns(w, 2, 3, new int[]{0, 2}));
        assertArrayEquals(new float[]{1, 0, 3, 4, 0, 6}, MlpChannelPruning.zeroOtherColumns(w, 2, 3, new int[]{0, 2}));
    }

    @Test
    void badRatiosAreRefusedNamingTheField() {
        assertEquals(43, MlpChannelPruning.removedCount(0.25, 172));
        for (double r : new double[]{1, -0.1, 1.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MlpChannelPruning.removedCount(r, 172));
            assertTrue(e.getMessage().contains("params.ratio"), e.getMessage());
        }
        IllegalArgumentException all = assertThrows(IllegalArgumentException.class, () -> MlpChannelPruning.removedCount(0.9, 4));
        assertTrue(all.getMessage().contains("params.ratio") && all.getMessage().contains("all 4"), all.getMessage());
        assertEquals(44, MlpChannelPruning.removedCount(0.25, 172, 32)); // 129 kept rounds down to 128
        IllegalArgumentException coarse = assertThrows(IllegalArgumentException.class, () -> MlpChannelPruning.removedCount(0.25, 172, 256));
        assertTrue(coarse.getMessage().contains("params.multiple_of 256") && coarse.getMessage().contains("all 172"), coarse.getMessage());
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class, () -> MlpChannelPruning.removedCount(0.25, 172, 0));
        assertTrue(zero.getMessage().contains("params.multiple_of"), zero.getMessage());
        IllegalArgumentException word = assertThrows(IllegalArgumentException.class, () -> MlpChannelTechnique.multipleOf(Map.of("multiple_of", "x")));
        assertTrue(word.getMessage().contains("params.multiple_of"), word.getMessage());
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class, () -> MlpChannelTechnique.ratio(Map.of("ratio", "a quarter")));
        assertTrue(nan.getMessage().contains("params.ratio"), nan.getMessage());
    }

    @Test
    void aStageOutputWithUnequalFfnLengthsIsRefused(@TempDir Path tmp) throws Exception {
        PruneEval.Stored in = PruneEval.Stored.stories260K(tmp.resolve("store"));
        Tensor g = in.model().tensor(TensorNames.ffnGate(0));
        Tensor narrow = Tensor.ofFloats(g.name(), new long[]{g.cols(), g.rows() - 1}, new float[g.cols() * (g.rows() - 1)]);
        List<TensorEntry> e = in.store().storeTensors(List.of(narrow));
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> in.store().derive(in.digest(), stage(Map.of()), e));
        assertTrue(ex.getMessage().contains("hidden_dim"), ex.getMessage());
        IllegalArgumentException all = assertThrows(IllegalArgumentException.class,
                () -> PruneEval.run(in, new MlpChannelTechnique(PruneEval.texts(tmp)), Map.of("ratio", "0.999", "calib_samples", "2", "calib_seq_len", "32"), new ArrayList<>()));
        assertTrue(all.getMessage().contains("params.ratio") && all.getMessage().contains("all 172"), all.getMessage());
    }

    /** 25% of every layer's MLP channels on stories260K: the derived model is smaller by exactly their weights, runs, and writes to GGUF. */
    @Test
    void quarterOfMlpChannelsOnStories260K(@TempDir Path tmp) throws Exception {
        PruneEval.Stored in = PruneEval.Stored.stories260K(tmp.resolve("store"));
        LlamaModel dense = in.model();
        int L = dense.config().nLayers(), dim = dense.config().dim(), hid = dense.config().hiddenDim();
        Map<String, String> params = Map.of("ratio", "0.25", "calib_samples", "32", "calib_seq_len", "256");
        List<String> notes = new ArrayList<>();
        LlamaModel pruned = derived(in, PruneEval.run(in, new MlpChannelTechnique(PruneEval.texts(tmp)), params, notes), params);
        int removed = Math.round(0.25f * hid);
        assertEquals(hid - removed, pruned.config().hiddenDim());
        assertEquals(dense.parameterCount() - (long) L * removed * 3 * dim, pruned.parameterCount());
        assertArrayEquals(new long[]{dim, hid - removed}, pruned.tensor(TensorNames.ffnUp(L - 1)).shape());

        assertEquals(0, maxLogitDifference(pruned, zeroTwin(dense, pruned)), 1e-4, "the smaller model computes the dense one with the removed channels' ffn_down columns zero");

        LlamaModel random = randomChannels(dense, removed, in, params);
        PruneEval.Score sd = PruneEval.score(dense, dense), sp = PruneEval.score(dense, pruned), sr = PruneEval.score(dense, random);
        double[] tps = decodeTokensPerSecond(List.of(dense, pruned, random));
        row("dense", dense, sd, tps[0]);
        row("mlp-channels 25%", pruned, sp, tps[1]);
        row("mlp-channels 25% random", random, sr, tps[2]);
        assertTrue(sp.pplEval() < sr.pplEval(), "activation-scored channels " + sp.pplEval() + " vs random " + sr.pplEval());

        // sequential: each block scored on the pruned earlier blocks' outputs (the handed blobs come from the zero-column twin)
        Map<String, String> seqParams = new LinkedHashMap<>(params);
        seqParams.put("calib_mode", "sequential");
        LlamaModel seq = derived(in, PruneEval.run(in, new MlpChannelTechnique(PruneEval.texts(tmp)), seqParams, new ArrayList<>()), seqParams);
        assertEquals(pruned.parameterCount(), seq.parameterCount());
        row("mlp-channels 25% sequential", seq, PruneEval.score(dense, seq), Double.NaN);

        Map<String, String> m32 = new LinkedHashMap<>(params);
        m32.put("multiple_of", "32");
        LlamaModel p32 = derived(in, PruneEval.run(in, new MlpChannelTechnique(PruneEval.texts(tmp)), m32, new ArrayList<>()), m32);
        assertEquals(128, p32.config().hiddenDim());
        row("mlp-channels 25% multiple_of 32", p32, PruneEval.score(dense, p32), Double.NaN);

        Path gguf = tmp.resolve("pruned.gguf");
        GgufLlama.write(pruned, gguf, GgufLlama.WriteOptions.keepTypes("stories260K-mlp25"));
        try (Arena a = Arena.ofConfined()) {
            LlamaModel back = GgufLlama.read(gguf, a);
            assertEquals(hid - removed, back.config().hiddenDim());
            double ppl = Perplexity.evaluateFile(back, PruneEval.shared("text/tinystories/eval_sample.txt"), 0).ppl();
            assertEquals(sp.pplEval(), ppl, 1e-9 * ppl);
        }
    }

    static StageSpec stage(Map<String, String> params) {
        return StageSpec.newBuilder().setKind(StageKind.PRUNE).setMethod(MlpChannelTechnique.METHOD).putAllParams(params).build();
    }

    /** The stage's FFN outputs stored and the manifest derived, as the coordinator does; the store loads the smaller model. */
    static LlamaModel derived(PruneEval.Stored in, LlamaModel run, Map<String, String> params) throws Exception {
        List<Tensor> ffn = new ArrayList<>();
        for (int l = 0; l < run.config().nLayers(); l++) {
            for (String n : List.of(TensorNames.ffnGate(l), TensorNames.ffnUp(l), TensorNames.ffnDown(l))) ffn.add(run.tensor(n));
        }
        return in.store().load(in.store().derive(in.digest(), stage(params), in.store().storeTensors(ffn)));
    }

    /** The dense model with ffn_down's columns of every channel {@code pruned} lacks set to zero (kept channels found by their gate rows). */
    static LlamaModel zeroTwin(LlamaModel dense, LlamaModel pruned) {
        int dim = dense.config().dim(), hid = dense.config().hiddenDim();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int l = 0; l < dense.config().nLayers(); l++) {
            float[] g = dense.tensor(TensorNames.ffnGate(l)).toFloats(), pg = pruned.tensor(TensorNames.ffnGate(l)).toFloats();
            int[] kept = new int[pruned.config().hiddenDim()];
            for (int i = 0, j = 0; i < kept.length; i++, j++) {
                while (!Arrays.equals(g, j * dim, (j + 1) * dim, pg, i * dim, (i + 1) * dim)) j++;
                kept[i] = j;
            }
            String d = TensorNames.ffnDown(l);
            out.put(d, Tensor.ofFloats(d, dense.tensor(d).shape(), MlpChannelPruning.zeroOtherColumns(dense.tensor(d).toFloats(), dim, hid, kept)));
        }
        return dense.withTensors(out);
    }

    static double maxLogitDifference(LlamaModel a, LlamaModel b) {
        int[] tokens = {1, 45, 33, 29, 300, 7, 88, 120};
        LlamaRuntime.Logits x = new LlamaRuntime(a).newSession(tokens.length).forward(tokens, 0, tokens.length);
        LlamaRuntime.Logits y = new LlamaRuntime(b).newSession(tokens.length).forward(tokens, 0, tokens.length);
        double max = 0;
        for (int r = 0; r < tokens.length; r++) for (int v = 0; v < x.vocab(); v++) max = Math.max(max, Math.abs(x.get(r, v) - y.get(r, v)));
        return max;
    }

    /** The control: the same number of channels per layer, chosen at random (seeded). */
    static LlamaModel randomChannels(LlamaModel dense, int removed, PruneEval.Stored in, Map<String, String> params) throws Exception {
        Random rnd = new Random(7);
        int hid = dense.config().hiddenDim(), dim = dense.config().dim();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int l = 0; l < dense.config().nLayers(); l++) {
            double[] s = new double[hid];
            for (int j = 0; j < hid; j++) s[j] = rnd.nextDouble();
            int[] kept = MlpChannelPruning.keep(s, removed);
            for (String n : List.of(TensorNames.ffnGate(l), TensorNames.ffnUp(l))) {
                float[] w = dense.tensor(n).toFloats();
                float[] sel = new float[kept.length * dim];
                for (int i = 0; i < kept.length; i++) System.arraycopy(w, kept[i] * dim, sel, i * dim, dim);
                out.put(n, Tensor.ofFloats(n, new long[]{dim, kept.length}, sel));
            }
            String d = TensorNames.ffnDown(l);
            out.put(d, Tensor.ofFloats(d, new long[]{kept.length, dim}, MlpChannelPruning.selectColumns(dense.tensor(d).toFloats(), dim, hid, kept)));
        }
        return derived(in, dense.withTensors(out), params);
    }

    /**
     * Single-thread decode speed of each model in tokens per CPU second of the decoding thread (the shared machine's load
     * then costs less than in wall time), best of 7 rounds of 256 tokens, the models taking turns within a round so
     * JIT warm-up reaches all alike (printed only: timing is not asserted).
     */
    static double[] decodeTokensPerSecond(List<LlamaModel> models) {
        List<LlamaRuntime> rts = models.stream().map(m -> new LlamaRuntime(m, 1)).toList();
        double[] best = new double[models.size()];
        for (int round = 0; round < 7; round++) {
            for (int k = 0; k < rts.size(); k++) {
                LlamaRuntime.Session s = rts.get(k).newSession(256);
                int tok = models.get(k).vocabulary().bos();
                long t0 = CPU.getCurrentThreadCpuTime();
                for (int i = 0; i < 256; i++) tok = s.forward(tok).argmax(0);
                best[k] = Math.max(best[k], 256 / ((CPU.getCurrentThreadCpuTime() - t0) / 1e9));
            }
        }
        return best;
    }

    static void row(String name, LlamaModel m, PruneEval.Score s, double tps) {
        System.out.println(String.format(Locale.ROOT, "TABLE | %s | params %d | hidden %d | ppl eval_sample %.3f | ppl wikitext2 %.2f | KL %.4f | top1 %.3f%s |",
                name, m.parameterCount(), m.config().hiddenDim(), s.pplEval(), s.pplWiki(), s.kl(), s.top1(),
                Double.isNaN(tps) ? "" : String.format(Locale.ROOT, " | decode %.0f tok/CPU-s (1 thread, best of 7 in turns)", tps)));
    }
}
