package io.shardwise.pruner;

import io.shardwise.core.format.GgufFile;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionHeadPruningTest {

    @Test
    void groupScoresSumTheirHeadsAndRowsAreWholeGroups() {
        // 4 heads of 2 over 2 kv heads, dim 1: W_o = [1 1 | 0 0 | 2 0 | 0 1]
        float[] wo = {1, 1, 0, 0, 2, 0, 0, 1};
        double[] s = AttentionHeadPruning.groupScores(new double[]{4, 100, 1, 9}, wo, 1, 4, 2, 2);
        assertEquals(2 * Math.sqrt(2) + 0, s[0], 1e-12); // head 1 has large outputs but zero W_o columns
        assertEquals(1 * 2 + 3 * 1, s[1], 1e-12);
        assertArrayEquals(new int[]{4, 5, 6, 7}, AttentionHeadPruning.rows(new int[]{1}, 4));
        assertArrayEquals(new int[]{0, 1, 4, 5}, AttentionHeadPruning.rows(new int[]{0, 2}, 2));
        assertArrayEquals(new int[]{1, 3}, AttentionHeadPruning.removed(4, new int[]{0, 2}));
    }

    @Test
    void badRatiosAreRefusedNamingTheField() {
        assertEquals(1, AttentionHeadPruning.removedGroups(0.25, 8, 4));
        assertEquals(0, AttentionHeadPruning.removedGroups(0.1, 8, 4)); // 0.4 of a group rounds to none
        for (double r : new double[]{1, -0.1, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AttentionHeadPruning.removedGroups(r, 8, 4));
            assertTrue(e.getMessage().contains("params.ratio"), e.getMessage());
        }
        IllegalArgumentException all = assertThrows(IllegalArgumentException.class, () -> AttentionHeadPruning.removedGroups(0.9, 8, 4));
        assertTrue(all.getMessage().contains("params.ratio 0.9") && all.getMessage().contains("all 4 kv head groups (8 attention heads)"), all.getMessage());
        IllegalArgumentException word = assertThrows(IllegalArgumentException.class, () -> AttentionHeadTechnique.ratio(Map.of("ratio", "a quarter")));
        assertTrue(word.getMessage().contains("params.ratio"), word.getMessage());
    }

    /** 25% of the heads of stories260K (1 of 4 kv groups per layer: 8/4 heads -> 6/3): smaller, runs, beats random groups, GGUF round trip. */
    @Test
    void quarterOfHeadsOnStories260K(@TempDir Path tmp) throws Exception {
        PruneEval.Stored in = PruneEval.Stored.stories260K(tmp.resolve("store"));
        LlamaModel dense = in.model();
        int L = dense.config().nLayers(), dim = dense.config().dim(), hd = dense.config().headDim();
        Map<String, String> params = Map.of("ratio", "0.25", "calib_samples", "32", "calib_seq_len", "256");
        List<String> notes = new ArrayList<>();
        LlamaModel pruned = derived(in, PruneEval.run(in, new AttentionHeadTechnique(PruneEval.texts(tmp)), params, notes), params);
        notes.stream().filter(n -> n.contains("kv head groups")).forEach(System.out::println);
        assertEquals(6, pruned.config().nHeads());
        assertEquals(3, pruned.config().nKvHeads());
        assertEquals(8, pruned.config().headDim());
        assertEquals(dense.parameterCount() - (long) L * hd * dim * (2 * 2 + 2), pruned.parameterCount());
        assertArrayEquals(new long[]{dim, 48}, pruned.tensor(TensorNames.attnQ(L - 1)).shape());
        assertArrayEquals(new long[]{dim, 24}, pruned.tensor(TensorNames.attnK(L - 1)).shape());
        assertArrayEquals(new long[]{48, dim}, pruned.tensor(TensorNames.attnOutput(L - 1)).shape());

        int[][] kept = keptGroups(dense, pruned);
        assertEquals(0, MlpChannelPruningTest.maxLogitDifference(pruned, zeroTwin(dense, kept)), 1e-4,
                "the smaller model computes the dense one with the removed heads' attn_output columns zero");

        int[][] randomKept = randomKept(L);
        LlamaModel random = AttentionHeadPruning.withGroups(dense, randomKept);
        assertEquals(pruned.parameterCount(), random.parameterCount());
        PruneEval.Score sd = PruneEval.score(dense, dense), sp = PruneEval.score(dense, pruned), sr = PruneEval.score(dense, random);
        row("dense", dense, sd);
        row("attention-heads 25%", pruned, sp);
        row("attention-heads 25% random groups " + java.util.Arrays.deepToString(randomKept), random, sr);
        assertTrue(sp.pplEval() < sr.pplEval(), "activation-scored groups " + sp.pplEval() + " vs random " + sr.pplEval());

        Map<String, String> seqParams = new LinkedHashMap<>(params);
        seqParams.put("calib_mode", "sequential");
        LlamaModel seq = derived(in, PruneEval.run(in, new AttentionHeadTechnique(PruneEval.texts(tmp)), seqParams, new ArrayList<>()), seqParams);
        assertEquals(pruned.parameterCount(), seq.parameterCount());
        row("attention-heads 25% sequential", seq, PruneEval.score(dense, seq));

        Path gguf = tmp.resolve("pruned.gguf");
        GgufLlama.write(pruned, gguf, GgufLlama.WriteOptions.keepTypes("stories260K-heads25"));
        try (Arena a = Arena.ofConfined()) {
            assertEquals(8, GgufFile.read(gguf, a).integer("llama.attention.key_length", 0, 1 << 20));
            LlamaModel back = GgufLlama.read(gguf, a);
            assertEquals(pruned.config(), back.config());
            assertEquals(0, MlpChannelPruningTest.maxLogitDifference(pruned, back), 0, "the GGUF read back gives the same logits");
        }
    }

    /** LLM-Pruner's first-order |dL/dW * W| group scores from the plan shard (whole-model gradients in DJL) instead of activation norms. */
    @Test
    void firstOrderImportanceOnStories260K(@TempDir Path tmp) throws Exception {
        PruneEval.Stored in = PruneEval.Stored.stories260K(tmp.resolve("store"));
        LlamaModel dense = in.model();
        Map<String, String> params = Map.of("ratio", "0.25", "importance", "first_order", "calib_samples", "32", "calib_seq_len", "256");
        List<String> notes = new ArrayList<>();
        LlamaModel pruned = derived(in, PruneEval.run(in, new AttentionHeadTechnique(PruneEval.texts(tmp)), params, notes), params);
        notes.stream().filter(n -> n.contains("first-order group scores") || n.contains("kv head groups")).forEach(System.out::println);
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("layer 0: first-order group scores")), "the plan shard ran: " + notes);
        assertEquals(6, pruned.config().nHeads());
        assertEquals(3, pruned.config().nKvHeads());
        LlamaModel random = AttentionHeadPruning.withGroups(dense, randomKept(dense.config().nLayers()));
        PruneEval.Score sp = PruneEval.score(dense, pruned), sr = PruneEval.score(dense, random);
        row("attention-heads 25% first_order", pruned, sp);
        // measured: ppl 7.365 vs random groups 7.212 and activation scores 6.901: first order ranks whole heads poorly here, so not asserted
        for (String n : notes) {
            if (!n.contains("kv head groups [")) continue;
            double[] sc = java.util.Arrays.stream(n.replaceAll(".*first_order scores \\[(.*)\\]\\)$", "$1").split(", ")).mapToDouble(Double::parseDouble).toArray();
            int low = 0;
            for (int g = 1; g < sc.length; g++) if (sc[g] < sc[low]) low = g;
            assertTrue(n.contains("kv head groups [" + low + "] removed"), "the lowest first-order score goes: " + n);
        }
        row("attention-heads 25% random groups (control)", random, sr);

        Map<String, String> seq = new LinkedHashMap<>(params);
        seq.put("calib_mode", "sequential");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PruneEval.run(in, new AttentionHeadTechnique(PruneEval.texts(tmp)), seq, new ArrayList<>()));
        assertTrue(e.getMessage().contains("params.calib_mode") && e.getMessage().contains("first_order"), e.getMessage());
        // importance given as activation also runs the (empty) plan shard; the block shards score as without it
        LlamaModel act = derived(in, PruneEval.run(in, new AttentionHeadTechnique(PruneEval.texts(tmp)),
                Map.of("ratio", "0.25", "importance", "activation", "calib_samples", "32", "calib_seq_len", "256"), new ArrayList<>()), params);
        assertEquals(6.901, PruneEval.score(dense, act).pplEval(), 0.001);
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> PruneEval.run(in, new AttentionHeadTechnique(PruneEval.texts(tmp)), Map.of("importance", "taylor2"), new ArrayList<>()));
        assertTrue(bad.getMessage().contains("params.importance 'taylor2'"), bad.getMessage());
    }

    /** The control: one of the 4 kv groups per layer dropped at random (seeded). */
    static int[][] randomKept(int layers) {
        Random rnd = new Random(11);
        int[][] kept = new int[layers][];
        for (int l = 0; l < layers; l++) {
            int drop = rnd.nextInt(4);
            kept[l] = java.util.stream.IntStream.range(0, 4).filter(g -> g != drop).toArray();
        }
        return kept;
    }

    static StageSpec stage(Map<String, String> params) {
        return StageSpec.newBuilder().setKind(StageKind.PRUNE).setMethod(AttentionHeadTechnique.METHOD).putAllParams(params).build();
    }

    /** The stage's attention outputs stored and the manifest derived, as the coordinator does. */
    static LlamaModel derived(PruneEval.Stored in, LlamaModel run, Map<String, String> params) throws Exception {
        List<Tensor> attn = new ArrayList<>();
        for (int l = 0; l < run.config().nLayers(); l++) {
            for (String n : List.of(TensorNames.attnQ(l), TensorNames.attnK(l), TensorNames.attnV(l), TensorNames.attnOutput(l))) attn.add(run.tensor(n));
        }
        return in.store().load(in.store().derive(in.digest(), stage(params), in.store().storeTensors(attn)));
    }

    /** Per layer, the dense model's kv groups the pruned one kept (found by their attn_k rows). */
    static int[][] keptGroups(LlamaModel dense, LlamaModel pruned) {
        int dim = dense.config().dim(), hd = dense.config().headDim(), L = dense.config().nLayers();
        int[][] kept = new int[L][pruned.config().nKvHeads()];
        for (int l = 0; l < L; l++) {
            float[] k = dense.tensor(TensorNames.attnK(l)).toFloats(), pk = pruned.tensor(TensorNames.attnK(l)).toFloats();
            for (int i = 0, g = 0; i < kept[l].length; i++, g++) {
                while (!java.util.Arrays.equals(k, g * hd * dim, (g + 1) * hd * dim, pk, i * hd * dim, (i + 1) * hd * dim)) g++;
                kept[l][i] = g;
            }
        }
        return kept;
    }

    /** The dense model with attn_output's columns of every removed head zero. */
    static LlamaModel zeroTwin(LlamaModel dense, int[][] kept) {
        var c = dense.config();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int l = 0; l < c.nLayers(); l++) {
            String o = TensorNames.attnOutput(l);
            int[] cols = AttentionHeadPruning.rows(kept[l], c.nHeads() / c.nKvHeads() * c.headDim());
            out.put(o, Tensor.ofFloats(o, dense.tensor(o).shape(), MlpChannelPruning.zeroOtherColumns(dense.tensor(o).toFloats(), c.dim(), c.qDim(), cols)));
        }
        return dense.withTensors(out);
    }

    static void row(String name, LlamaModel m, PruneEval.Score s) {
        System.out.println(String.format(Locale.ROOT, "TABLE | %s | params %d | heads %d/%d | ppl eval_sample %.3f | ppl wikitext2 %.2f | KL %.4f | top1 %.3f |",
                name, m.parameterCount(), m.config().nHeads(), m.config().nKvHeads(), s.pplEval(), s.pplWiki(), s.kl(), s.top1()));
    }
}
