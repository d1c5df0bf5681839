package io.shardwise.pruner;

import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSet;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShortGptTest {

    @Test
    void lowestInfluenceAndBadRatios() {
        assertArrayEquals(new int[]{1, 3}, ShortGpt.lowest(new double[]{0.5, 0.1, 0.9, 0.2, 0.3}, 2));
        assertEquals(1, ShortGpt.removedCount(0.2, 5));
        for (double r : new double[]{1, -0.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShortGpt.removedCount(r, 5));
            assertTrue(e.getMessage().contains("params.ratio"), e.getMessage());
        }
        IllegalArgumentException all = assertThrows(IllegalArgumentException.class, () -> ShortGpt.removedCount(0.95, 5));
        assertTrue(all.getMessage().contains("params.ratio") && all.getMessage().contains("all 5 layers"), all.getMessage());
        assertEquals(1, ShortGpt.cosine(new float[]{1, 2}, new float[]{2, 4}, 0, 2), 1e-12);
    }

    /** One of stories260K's 5 blocks removed: the model is smaller by exactly one block, the lowest-BI block costs less ppl than the highest. */
    @Test
    void removesTheLeastInfluentialBlockOfStories260K(@TempDir Path tmp) throws Exception {
        PruneEval.Stored in = PruneEval.Stored.stories260K(tmp.resolve("store"));
        LlamaModel dense = in.model();
        CalibrationSpec spec = CalibrationSpec.fromParams(Map.of("calib_samples", "32", "calib_seq_len", "256"), CalibrationMode.INDEPENDENT);
        int[][] windows = CalibrationSet.load(spec, PruneEval.texts(tmp).resolve(spec.dataset()), Tokenizers.forVocabulary(dense.vocabulary()));
        double[] bi = ShortGpt.blockInfluence(dense, windows);
        System.out.println("block influence " + Arrays.toString(bi));
        int L = dense.config().nLayers();
        int[] low = ShortGpt.lowest(bi, ShortGpt.removedCount(0.2, L));
        int high = 0;
        for (int l = 1; l < L; l++) if (bi[l] > bi[high]) high = l;
        LlamaModel pruned = ShortGpt.remove(dense, low), control = ShortGpt.remove(dense, new int[]{high});

        long block = TensorNames.blockTensors(0).stream().mapToLong(n -> dense.tensor(n).elements()).sum();
        assertEquals(L - 1, pruned.config().nLayers());
        assertEquals(dense.parameterCount() - block, pruned.parameterCount());
        int kept = low[0] == L - 1 ? L - 2 : L - 1; // the last block of the pruned model is dense's last kept block
        assertSame(dense.tensor(TensorNames.ffnDown(kept)).data(), pruned.tensor(TensorNames.ffnDown(L - 2)).data());

        // through the store as an imported model: the manifest's config has the new n_layers
        String digest = in.store().importModel(pruned, "test:shortgpt", "stories260K-shortgpt");
        LlamaModel stored = in.store().load(digest);
        assertEquals(L - 1, stored.config().nLayers());

        PruneEval.Score sp = PruneEval.score(dense, stored), sc = PruneEval.score(dense, control);
        double[] tps = MlpChannelPruningTest.decodeTokensPerSecond(List.of(dense, stored));
        System.out.println(String.format(Locale.ROOT, "TABLE | shortgpt 1 of %d layers (block %s, BI %.4f) | params %d | ppl eval_sample %.3f | ppl wikitext2 %.2f | KL %.4f | top1 %.3f | decode %.0f vs dense %.0f tok/CPU-s |",
                L, Arrays.toString(low), bi[low[0]], stored.parameterCount(), sp.pplEval(), sp.pplWiki(), sp.kl(), sp.top1(), tps[1], tps[0]));
        System.out.println(String.format(Locale.ROOT, "TABLE | highest-BI block %d removed (control) | ppl eval_sample %.3f | KL %.4f | top1 %.3f |", high, sc.pplEval(), sc.kl(), sc.top1()));
        assertTrue(sp.pplEval() < sc.pplEval(), "lowest-BI removal " + sp.pplEval() + " vs highest " + sc.pplEval());

        Path gguf = tmp.resolve("shortgpt.gguf");
        GgufLlama.write(stored, gguf, GgufLlama.WriteOptions.keepTypes("stories260K-shortgpt"));
        try (Arena a = Arena.ofConfined()) {
            LlamaModel back = GgufLlama.read(gguf, a);
            assertEquals(L - 1, back.config().nLayers());
            assertEquals(sp.pplEval(), Perplexity.evaluateFile(back, PruneEval.shared("text/tinystories/eval_sample.txt"), 0).ppl(), 1e-9 * sp.pplEval());
        }
    }
}
