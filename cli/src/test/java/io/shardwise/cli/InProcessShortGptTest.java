package io.shardwise.cli;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSet;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.pruner.ShortGpt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * recipes/shortgpt-stories260k.yaml in process: the shortgpt stage's plan shard picks the block of lowest influence and
 * the stage's output is the model-level {@link ShortGpt#remove} of it, tensor for tensor (4 of stories260K's 5 blocks,
 * renumbered), so its perplexity is the same; the Q8_0 stage after it runs on the renumbered model, and the job's GGUF
 * reads back with 4 layers and the scored perplexity.
 */
class InProcessShortGptTest {

    @Test
    void theRecipeRemovesTheBlockShortGptPicksAndWritesAFourLayerGguf(@TempDir Path dir) throws Exception {
        Path model = SharedData.stories260K();
        Path train = SharedData.require("text/tinystories/train_head.txt");
        Path eval = SharedData.require("text/tinystories/eval_sample.txt");
        String yaml = Files.readString(RepoLayout.find().root().resolve("recipes/shortgpt-stories260k.yaml"));
        int maxTokens = RecipeParser.parse(yaml).evaluate().maxTokens();
        List<String> log = new ArrayList<>();
        InProcessChain.Result r = new InProcessChain(dir.resolve("blobs"), dir.resolve("out"), RepoLayout.find(), log::add).run(model, yaml);
        log.forEach(System.out::println);
        System.out.println(r.table().render());
        List<String> shards = log.stream().filter(l -> l.contains("shortgpt: shard ")).map(l -> l.replaceAll(".*: shard (\\S+).*", "$1")).toList();
        assertEquals("plan", shards.getFirst(), "the plan shard runs first: " + shards);

        ModelStore store = new ModelStore(new FileBlobStore(dir.resolve("blobs")));
        String pruned = store.manifest(r.finalManifest()).getParent();
        ModelManifest m = store.manifest(pruned);
        assertEquals(4, m.getConfig().getNLayers());
        try (Arena arena = Arena.ofShared()) {
            LlamaModel dense = ModelFiles.open(model, arena), got = store.load(pruned, arena);
            // the model-level algorithm on the same calibration windows the stage's plan shard read
            CalibrationSpec spec = CalibrationSpec.fromParams(Map.of("calib_samples", "32", "calib_seq_len", "256"), CalibrationMode.INDEPENDENT);
            double[] bi = ShortGpt.blockInfluence(dense, CalibrationSet.load(spec, train, Tokenizers.forVocabulary(dense.vocabulary())));
            int[] low = ShortGpt.lowest(bi, 1);
            LlamaModel want = ShortGpt.remove(dense, low);
            assertEquals(want.tensors().keySet(), got.tensors().keySet());
            for (Tensor w : want.tensors().values()) {
                Tensor g = got.tensor(w.name());
                assertEquals(w.type().typeName(), g.type().typeName(), w.name());
                assertEquals(-1, w.data().mismatch(g.data()), w.name() + ": bytes differ from the model-level removal");
            }
            long block = TensorNames.blockTensors(0).stream().mapToLong(n -> dense.tensor(n).elements()).sum();
            double wantPpl = Perplexity.evaluateFile(want, eval, maxTokens).ppl();
            ScoreTable.Row source = r.table().row(-1), stage = r.table().row(0), q8 = r.table().row(1);
            assertEquals(dense.parameterCount(), (long) source.metric("params"));
            assertEquals(dense.parameterCount() - block, (long) stage.metric("params"), "one block fewer");
            assertEquals(wantPpl, stage.ppl().get("tinystories"), 1e-9 * wantPpl, "the stage's ppl is the model-level ShortGPT's");
            assertTrue(log.stream().anyMatch(l -> l.contains("block " + low[0] + " removed")), "the removed block is named in the notes");
            System.out.println(String.format(Locale.ROOT, "TABLE | shortgpt stage, 1 of 5 blocks (%s, BI %s) | params %d -> %d | bytes %.0f -> %.0f | ppl eval_sample %.4f -> %.4f | then Q8_0: bytes %.0f ppl %.4f |",
                    Arrays.toString(low), Arrays.toString(bi), dense.parameterCount(), (long) stage.metric("params"), source.metric("bytes"), stage.metric("bytes"),
                    source.ppl().get("tinystories"), stage.ppl().get("tinystories"), q8.metric("bytes"), q8.ppl().get("tinystories")));

            LlamaModel back = GgufLlama.read(Path.of(r.outputPath()), arena);
            assertEquals(4, back.config().nLayers());
            assertTrue(back.tensors().keySet().stream().noneMatch(n -> TensorNames.blockOf(n) >= 4), "no block numbered past the new n_layers");
            double q8Ppl = q8.ppl().get("tinystories");
            assertEquals(q8Ppl, Perplexity.evaluateFile(back, eval, maxTokens).ppl(), 1e-9 * q8Ppl, "the GGUF scores what the job scored");
        }
    }
}
