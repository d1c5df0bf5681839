package io.shardwise.evaluator;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.proto.v1.ModelScored;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code evaluate.kv_cache}: perplexity scored again with a KIVI int8/int4 KV cache, against the same model's float32 cache. */
class ModelEvaluatorKvCacheTest {
    @TempDir
    Path tmp;
    private ModelStore store;
    private Path text;
    private String source;

    @BeforeEach
    void setUp() throws IOException {
        store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        text = tmp.resolve("data/tiny.txt");
        Files.createDirectories(text.getParent());
        // ~500 tokens: chunks of 63 after BOS, so every chunk closes a KIVI group of 32 and quantizes it
        Files.writeString(text, "The cat sat on the mat. The dog ran in the park and they played all day.\n".repeat(7));
        source = store.importModel(TestModels.tiny(5), "test:tiny", "tiny");
    }

    private ModelEvaluator evaluator() throws IOException {
        return new ModelEvaluator(store, new Datasets(Optional.empty(), Map.of("tiny", text.toString()), List.of()),
                ScoreCache.besideBlobs(tmp.resolve("blobs")), 2);
    }

    private static ModelScored score(List<ModelScored> scores, String metric, String kv) {
        return scores.stream().filter(s -> s.getMetric().equals(metric) && s.getKvCache().equals(kv)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + metric + " with kv '" + kv + "' in " + scores));
    }

    @Test
    void eachKvTypeIsScoredAfterFloat32WithTheSameModelsFloat32ValueAsBaseline() throws IOException {
        String pruned = TestModels.halfPruned(store, source);
        List<ModelScored> s = evaluator().evaluate(TestModels.withKv(TestModels.task("j", 0, pruned, source, 0, "tiny"), "int8", "int4"));
        assertEquals(List.of("params", "nonzero_params", "sparsity", "bytes", "bpw", "compression_ratio",
                        "nll", "ppl", "nll/int8", "ppl/int8", "nll/int4", "ppl/int4", "eval_done"),
                s.stream().map(x -> x.getMetric() + (x.getKvCache().isEmpty() ? "" : "/" + x.getKvCache())).toList());
        ModelScored f32 = score(s, "ppl", ""), i8 = score(s, "ppl", "int8"), i4 = score(s, "ppl", "int4");
        assertNotEquals(f32.getValue(), f32.getBaselineValue(), "the f32 score's baseline is the source model");
        for (String kv : List.of("int8", "int4")) {
            assertEquals(f32.getValue(), score(s, "ppl", kv).getBaselineValue(), 0.0, kv + " ppl vs this model's f32 cache");
            assertEquals(score(s, "nll", "").getValue(), score(s, "nll", kv).getBaselineValue(), 0.0, kv + " nll");
            assertEquals(f32.getTokens(), score(s, "ppl", kv).getTokens(), "same tokens, same protocol");
            assertEquals(Math.exp(score(s, "nll", kv).getValue()), score(s, "ppl", kv).getValue(), 1e-9);
            assertEquals("tiny", score(s, "ppl", kv).getDataset());
            assertEquals("ppl-v1", score(s, "ppl", kv).getProtocol());
        }
        double d8 = Math.abs(i8.getValue() / f32.getValue() - 1), d4 = Math.abs(i4.getValue() / f32.getValue() - 1);
        assertTrue(d8 > 0, "groups of 32 tokens were quantized: int8 differs from f32");
        assertTrue(d8 < 0.005, "int8 KV within 0.5%: " + i8.getValue() + " vs " + f32.getValue());
        assertTrue(d4 > d8, "int4 moves perplexity further than int8: " + d4 + " vs " + d8);
    }

    @Test
    void float32AndQuantizedKvScoresAreCachedApart() throws IOException {
        ModelEvaluator ev = evaluator();
        List<ModelScored> a = ev.evaluate(TestModels.withKv(TestModels.task("j1", -1, source, source, 0, "tiny"), "int8"));
        assertEquals(2, ev.perplexityRuns(), "f32 and int8");
        double f32 = score(a, "ppl", "").getValue(), i8 = score(a, "ppl", "int8").getValue();
        assertNotEquals(f32, i8);
        try (Stream<Path> files = Files.list(tmp.resolve("scores"))) {
            List<String> names = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(source + "-tiny-")).sorted().toList();
            assertEquals(2, names.size(), names.toString());
            assertTrue(names.stream().anyMatch(n -> n.endsWith("-ppl-v1.json")), names.toString());
            assertTrue(names.stream().anyMatch(n -> n.endsWith("-ppl-v1-kvint8g32.json")), names.toString());
        }
        // another process: f32 alone reads the f32 entry, never the int8 one
        ModelEvaluator again = evaluator();
        List<ModelScored> b = again.evaluate(TestModels.task("j2", -1, source, source, 0, "tiny"));
        assertEquals(0, again.perplexityRuns());
        assertEquals(f32, score(b, "ppl", "").getValue(), 0.0);
        assertTrue(b.stream().allMatch(x -> x.getKvCache().isEmpty()), "no kv_cache asked, none scored");
        // int8 again comes from the cache; int4 is new
        List<ModelScored> c = again.evaluate(TestModels.withKv(TestModels.task("j3", -1, source, source, 0, "tiny"), "int4", "int8"));
        assertEquals(1, again.perplexityRuns(), "only int4 ran");
        assertEquals(i8, score(c, "ppl", "int8").getValue(), 0.0);
        assertNotEquals(i8, score(c, "ppl", "int4").getValue());
        // a quantized-KV score under another token cap is another entry
        again.evaluate(TestModels.withKv(TestModels.task("j4", -1, source, source, 100, "tiny"), "int8"));
        assertEquals(3, again.perplexityRuns(), "f32 and int8 at 100 tokens");
    }

    @Test
    void badKvCacheEntriesFailTheTaskNamingEvaluateKvCache() throws IOException {
        ModelEvaluator ev = evaluator();
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> ev.evaluate(TestModels.withKv(TestModels.task("j", -1, source, source, 0, "tiny"), "int8", "int3")));
        assertEquals("evaluate.kv_cache[1]: 'int3' is not a KV-cache type (known: int8, int4)", unknown.getMessage());
        IllegalArgumentException f32 = assertThrows(IllegalArgumentException.class,
                () -> ev.evaluate(TestModels.withKv(TestModels.task("j", -1, source, source, 0, "tiny"), "f32")));
        assertTrue(f32.getMessage().startsWith("evaluate.kv_cache[0]: 'f32' is always scored"), f32.getMessage());
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> ev.evaluate(TestModels.withKv(TestModels.task("j", -1, source, source, 0, "tiny"), "int4", "INT4")));
        assertEquals("evaluate.kv_cache[1]: 'int4' is listed twice", twice.getMessage());
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> ev.evaluate(TestModels.withKv(TestModels.task("j", -1, source, source, 0, "tiny"), "")));
        assertTrue(empty.getMessage().startsWith("evaluate.kv_cache[0]: '' is not"), empty.getMessage());
        assertEquals(0, ev.perplexityRuns(), "the spec is checked before anything is scored");
        assertEquals(0, ev.sizeRuns());
    }

    @Test
    void stories260KInt8KvIsWithinHalfAPercentOfFloat32AndInt4IsWorse() throws IOException {
        String shared = System.getProperty("shardwise.shared");
        Path data = shared == null ? null : Path.of(shared, "data");
        if (data == null || !Files.isRegularFile(data.resolve("stories260K/stories260K.bin"))
                || !Files.isRegularFile(data.resolve("text/tinystories/eval_sample.txt"))) {
            System.out.println("skipped: shared data (stories260K, eval_sample.txt) is absent under " + data);
            Assumptions.abort("shared data absent");
        }
        LlamaModel m = Llama2cCheckpoint.read(data.resolve("stories260K/stories260K.bin"), data.resolve("stories260K/tok512.bin"), Arena.ofAuto());
        String digest = store.importModel(m, "file:stories260K.bin", "stories260K");
        ModelEvaluator ev = new ModelEvaluator(store, new Datasets(Optional.of(data), Map.of(), List.of()), ScoreCache.besideBlobs(tmp.resolve("blobs")), 0);
        List<ModelScored> s = ev.evaluate(TestModels.withKv(TestModels.task("j", -1, digest, digest, 0, "tinystories"), "int8", "int4"));
        ModelScored f32 = score(s, "ppl", ""), i8 = score(s, "ppl", "int8"), i4 = score(s, "ppl", "int4");
        System.out.printf("stories260K via ModelEvaluator on tinystories (%d tokens): ppl f32 %.4f, kv int8 %.4f (%+.3f%%), kv int4 %.4f (%+.3f%%)%n",
                f32.getTokens(), f32.getValue(), i8.getValue(), 100 * (i8.getValue() / i8.getBaselineValue() - 1),
                i4.getValue(), 100 * (i4.getValue() / i4.getBaselineValue() - 1));
        assertEquals(15_536, i8.getTokens());
        assertEquals(1.75994, score(s, "nll", "").getValue(), 0.002, "the f32 score is the reference");
        assertEquals(f32.getValue(), i8.getBaselineValue(), 0.0);
        assertTrue(Math.abs(i8.getValue() / f32.getValue() - 1) < 0.005, "KV int8 within 0.5% of fp32: " + i8.getValue() + " vs " + f32.getValue());
        assertNotEquals(f32.getValue(), i8.getValue(), "int8 codes are in use");
        assertTrue(i4.getValue() > i8.getValue(), "int4 is worse than int8: " + i4.getValue() + " vs " + i8.getValue());
    }
}
