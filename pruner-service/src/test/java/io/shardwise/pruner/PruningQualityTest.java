package io.shardwise.pruner;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardTechnique;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Wanda and SparseGPT against magnitude pruning on the real stories260K, calibrated on TinyStories training text
 * (sequential, 32 windows of 256 tokens) and scored on the evaluation sample (and WikiText-2's first 20k tokens),
 * with KL divergence and top-1 agreement against fp32. Every output is checked for its exact sparsity pattern.
 */
class PruningQualityTest {

    record Run(String method, String pattern, ShardTechnique technique, Map<String, String> params) {
    }

    @Test
    void wandaAndSparseGptBeatMagnitudeAtHalfSparsityAndSparseGptBeatsItAtTwoOfFour(@TempDir Path tmp) throws Exception {
        PruneEval.Stored in = PruneEval.Stored.stories260K(tmp.resolve("blobs"));
        PruneEval.shared("text/tinystories/train_head.txt");
        var texts = PruneEval.texts(tmp);
        ShardTechnique magnitude = new MagnitudeTechnique(), wanda = new WandaTechnique(texts), sparsegpt = new SparseGptTechnique(texts);
        LlamaModel fp32 = in.model();
        System.out.println(PruneEval.line("fp32", "dense", PruneEval.score(fp32, fp32)));
        List<Run> runs = List.of(
                new Run("magnitude", "50%", magnitude, Map.of("sparsity", "0.5")),
                new Run("wanda", "50%", wanda, PruneEval.params("sparsity", "0.5")),
                new Run("sparsegpt", "50%", sparsegpt, PruneEval.params("sparsity", "0.5")),
                new Run("wanda owl", "50% owl", wanda, PruneEval.params("sparsity", "0.5", "schedule", "owl")),
                new Run("sparsegpt owl", "50% owl", sparsegpt, PruneEval.params("sparsity", "0.5", "schedule", "owl")),
                new Run("sparsegpt + int4", "50% I4_ASYM_CH", sparsegpt, PruneEval.params("sparsity", "0.5", "quantize", "int4")),
                new Run("magnitude", "2:4", magnitude, Map.of("pattern", "2:4")),
                new Run("wanda", "2:4", wanda, PruneEval.params("pattern", "2:4")),
                new Run("sparsegpt", "2:4", sparsegpt, PruneEval.params("pattern", "2:4")),
                new Run("magnitude", "4:8", magnitude, Map.of("pattern", "4:8")),
                new Run("wanda", "4:8", wanda, PruneEval.params("pattern", "4:8")),
                new Run("sparsegpt", "4:8", sparsegpt, PruneEval.params("pattern", "4:8")));
        Map<String, PruneEval.Score> scores = new LinkedHashMap<>();
        for (Run r : runs) {
            List<String> notes = new ArrayList<>();
            LlamaModel pruned = PruneEval.run(in, r.technique(), r.params(), notes);
            checkPattern(fp32, pruned, r);
            PruneEval.Score s = PruneEval.score(fp32, pruned);
            System.out.println(PruneEval.line(r.method(), r.pattern(), s));
            notes.stream().filter(n -> n.startsWith("layer")).forEach(n -> System.out.println("  " + r.method() + " " + n));
            scores.put(r.method() + " " + r.pattern(), s);
        }
        double mag50 = scores.get("magnitude 50%").pplEval(), mag24 = scores.get("magnitude 2:4").pplEval();
        assertTrue(scores.get("wanda 50%").pplEval() < mag50, "wanda 50% " + scores.get("wanda 50%") + " vs magnitude " + mag50);
        assertTrue(scores.get("sparsegpt 50%").pplEval() < mag50, "sparsegpt 50% " + scores.get("sparsegpt 50%") + " vs magnitude " + mag50);
        assertTrue(scores.get("sparsegpt 2:4").pplEval() < mag24, "sparsegpt 2:4 " + scores.get("sparsegpt 2:4") + " vs magnitude " + mag24);
    }

    /** Every block matrix has exactly the requested pattern; the embedding, norms and head are untouched. */
    private static void checkPattern(LlamaModel fp32, LlamaModel pruned, Run r) {
        String pattern = r.params().getOrDefault("pattern", "unstructured");
        boolean owl = r.params().containsKey("schedule"), quantized = r.params().containsKey("quantize");
        long zeros = 0, elements = 0;
        for (int l = 0; l < fp32.config().nLayers(); l++) {
            for (String n : TensorNames.blockMatrices(l)) {
                Tensor t = pruned.tensor(n);
                float[] w = t.toFloats();
                int rows = t.rows(), cols = t.cols();
                long z = 0;
                for (float v : w) if (v == 0f) z++;
                zeros += z;
                elements += w.length;
                if (pattern.contains(":")) {
                    MagnitudePruning.NOfM nm = (MagnitudePruning.NOfM) MagnitudePruning.parse(pattern, 0);
                    assertTrue(NmSparsity.follows(w, rows, cols, nm.n(), nm.m()), r + ": " + n + " breaks " + pattern);
                    if (!quantized) assertEquals((long) rows * (cols / nm.m()) * (nm.m() - nm.n()), z, r + ": " + n + " zeros");
                } else if (!owl && !quantized) {
                    assertEquals(Math.round(0.5 * w.length), z, r + ": " + n + " zeros");
                }
            }
        }
        if (owl) assertEquals(0.5, (double) zeros / elements, 0.01, r + ": overall sparsity under owl");
        for (String n : List.of(TensorNames.TOKEN_EMBD, TensorNames.OUTPUT_NORM)) {
            assertTrue(java.util.Arrays.equals(fp32.tensor(n).toFloats(), pruned.tensor(n).toFloats()), n + " untouched");
        }
    }
}
