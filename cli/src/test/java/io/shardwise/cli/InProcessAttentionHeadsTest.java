package io.shardwise.cli;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.GgufFile;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.proto.v1.ModelManifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * recipes/heads-stories260k.yaml in process: attention_heads 25% (8/4 heads -> 6/3, head_dim 8 kept) -> KD from the
 * source (the DJL student runs the pruned shapes) -> Q8_0; every stage scored, the job's GGUF reads back with the
 * pruned head counts (attention.key_length 8) and scores what the job scored.
 */
class InProcessAttentionHeadsTest {

    @Test
    void theRecipePrunesHeadsDistilsQuantizesAndWritesASmallerGguf(@TempDir Path dir) throws Exception {
        Path model = SharedData.stories260K();
        SharedData.require("text/tinystories/train_head.txt");
        Path eval = SharedData.require("text/tinystories/eval_sample.txt");
        String yaml = Files.readString(RepoLayout.find().root().resolve("recipes/heads-stories260k.yaml"));
        int maxTokens = RecipeParser.parse(yaml).evaluate().maxTokens();
        List<String> log = new ArrayList<>();
        InProcessChain.Result r = new InProcessChain(dir.resolve("blobs"), dir.resolve("out"), RepoLayout.find(), log::add).run(model, yaml);
        System.out.println(r.table().render());
        ModelStore store = new ModelStore(new FileBlobStore(dir.resolve("blobs")));
        String distilled = store.manifest(r.finalManifest()).getParent();
        ModelManifest pruned = store.manifest(store.manifest(distilled).getParent());
        assertEquals(6, pruned.getConfig().getNHeads());
        assertEquals(3, pruned.getConfig().getNKvHeads());
        assertEquals(8, pruned.getConfig().getHeadDim());

        ScoreTable.Row source = r.table().row(-1), heads = r.table().row(0), kd = r.table().row(1), q8 = r.table().row(2);
        try (Arena arena = Arena.ofShared()) {
            LlamaModel dense = ModelFiles.open(model, arena);
            assertEquals(dense.parameterCount(), (long) source.metric("params"));
            assertEquals(dense.parameterCount() - 5L * 8 * 64 * 6, (long) heads.metric("params"), "one kv group (2 q, 1 k, 1 v, 2 o heads of 8 x 64) fewer per layer");
            double pSource = source.ppl().get("tinystories"), pHeads = heads.ppl().get("tinystories"), pKd = kd.ppl().get("tinystories"), pQ8 = q8.ppl().get("tinystories");
            System.out.println(String.format(Locale.ROOT, "TABLE | attention_heads 25%% -> kd 50 steps -> Q8_0 | params %d -> %d | bytes %.0f -> %.0f -> %.0f -> %.0f | ppl eval_sample %.4f -> %.4f -> %.4f -> %.4f |",
                    dense.parameterCount(), (long) heads.metric("params"), source.metric("bytes"), heads.metric("bytes"), kd.metric("bytes"), q8.metric("bytes"),
                    pSource, pHeads, pKd, pQ8));
            assertTrue(pHeads > pSource, "removing heads costs perplexity: " + pHeads + " vs " + pSource);
            assertTrue(pKd < pHeads, "KD from the source recovers some of it: " + pKd + " vs " + pHeads);
            assertTrue(pQ8 < pKd * 1.02, "Q8_0 is near lossless: " + pQ8 + " vs " + pKd);

            Path gguf = Path.of(r.outputPath());
            assertEquals(8, GgufFile.read(gguf, arena).integer("llama.attention.key_length", 0, 1 << 20));
            LlamaModel back = GgufLlama.read(gguf, arena);
            assertEquals(6, back.config().nHeads());
            assertEquals(3, back.config().nKvHeads());
            assertEquals(pQ8, Perplexity.evaluateFile(back, eval, maxTokens).ppl(), 1e-9 * pQ8, "the GGUF scores what the job scored");
        }
    }
}
