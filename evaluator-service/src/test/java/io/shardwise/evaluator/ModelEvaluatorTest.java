package io.shardwise.evaluator;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Tokenizer;
import io.shardwise.proto.v1.ModelScored;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelEvaluatorTest {
    @TempDir
    Path tmp;
    private ModelStore store;
    private ModelEvaluator evaluator;
    private String source;
    private Path text;

    @BeforeEach
    void setUp() throws IOException {
        Path blobs = tmp.resolve("blobs");
        store = new ModelStore(new FileBlobStore(blobs));
        text = tmp.resolve("data/tiny.txt");
        Files.createDirectories(text.getParent());
        Files.writeString(text, "The cat sat on the mat. The dog ran in the park and they played all day. Café “x” €\n".repeat(6));
        evaluator = new ModelEvaluator(store, new Datasets(Optional.of(tmp.resolve("data")), Map.of("tiny", text.toString()), List.of()),
                ScoreCache.besideBlobs(blobs), 2);
        source = store.importModel(TestModels.tiny(1), "test:tiny", "tiny");
    }

    private static ModelScored metric(List<ModelScored> scores, String metric) {
        return scores.stream().filter(s -> s.getMetric().equals(metric)).findFirst().orElseThrow(() -> new AssertionError("no " + metric + " in " + scores));
    }

    @Test
    void sourceModelIsItsOwnBaselineAndTheMarkerComesLast() throws IOException {
        List<ModelScored> s = evaluator.evaluate(TestModels.task("j1", -1, source, source, 0, "tiny"));
        assertEquals(List.of("params", "nonzero_params", "sparsity", "bytes", "bpw", "compression_ratio", "nll", "ppl", "eval_done"),
                s.stream().map(ModelScored::getMetric).toList());
        LlamaModel m = store.load(source);
        assertEquals(m.parameterCount(), metric(s, "params").getValue());
        assertEquals(m.parameterCount(), metric(s, "nonzero_params").getValue(), "random weights have no zeros");
        assertEquals(4.0 * m.parameterCount(), metric(s, "bytes").getValue(), "all F32");
        assertEquals(32.0, metric(s, "bpw").getValue(), 1e-12);
        assertEquals(1.0, metric(s, "compression_ratio").getValue());
        int tokens = new Tokenizer(m.vocabulary()).encode(Files.readAllBytes(text)).length;
        ModelScored ppl = metric(s, "ppl"), nll = metric(s, "nll");
        assertEquals(tokens, ppl.getTokens());
        assertEquals(Math.exp(nll.getValue()), ppl.getValue(), 1e-9);
        assertTrue(ppl.getValue() > 1 && Double.isFinite(ppl.getValue()), "ppl " + ppl.getValue());
        for (ModelScored x : s.subList(0, s.size() - 1)) {
            assertEquals(x.getValue(), x.getBaselineValue(), 1e-12, x.getMetric());
            assertEquals("ppl-v1", x.getProtocol());
            assertEquals(source, x.getManifest());
            assertEquals("j1", x.getJobId());
        }
        assertEquals("tiny", ppl.getDataset());
        assertEquals("", metric(s, "bytes").getDataset());
    }

    @Test
    void prunedModelReportsItsSparsityAgainstTheSource() throws IOException {
        String pruned = TestModels.halfPruned(store, source);
        List<ModelScored> s = evaluator.evaluate(TestModels.task("j2", 0, pruned, source, 0, "tiny"));
        long params = store.load(source).parameterCount();
        long zeros = TestModels.blockMatrixParams() / 2;
        assertEquals(params - zeros, metric(s, "nonzero_params").getValue());
        assertEquals((double) zeros / params, metric(s, "sparsity").getValue(), 1e-12);
        assertEquals(0.0, metric(s, "sparsity").getBaselineValue());
        assertEquals(1.0, metric(s, "compression_ratio").getValue(), "zeros stored densely take the same bytes");
        ModelScored ppl = metric(s, "ppl");
        assertTrue(Math.abs(ppl.getValue() - ppl.getBaselineValue()) > 1e-6, "pruning changes perplexity: " + ppl);
    }

    @Test
    void q8ModelIsSmallerAndCloseToTheSource() throws IOException {
        String q8 = TestModels.q8(store, source);
        List<ModelScored> s = evaluator.evaluate(TestModels.task("j3", 0, q8, source, 0, "tiny"));
        double bytes = metric(s, "bytes").getValue(), srcBytes = metric(s, "bytes").getBaselineValue();
        long params = store.load(source).parameterCount();
        long block = TestModels.blockMatrixParams();
        assertEquals(4.0 * (params - block) + block / 32 * 34, bytes, "Q8_0: 34 bytes per 32 weights");
        assertEquals(srcBytes / bytes, metric(s, "compression_ratio").getValue(), 1e-12);
        assertEquals(8 * bytes / params, metric(s, "bpw").getValue(), 1e-12);
        ModelScored nll = metric(s, "nll");
        assertEquals(nll.getBaselineValue(), nll.getValue(), 0.01, "Q8_0 stays within 0.01 nats of fp32");
    }

    @Test
    void sourceScoresAreCachedByDigestAcrossJobs() throws IOException {
        evaluator.evaluate(TestModels.task("j1", -1, source, source, 0, "tiny"));
        assertEquals(1, evaluator.perplexityRuns());
        assertEquals(1, evaluator.sizeRuns());
        String pruned = TestModels.halfPruned(store, source);
        evaluator.evaluate(TestModels.task("j1", 0, pruned, source, 0, "tiny"));
        assertEquals(2, evaluator.perplexityRuns(), "the source's perplexity came from the cache");
        assertEquals(2, evaluator.sizeRuns());
        // a second job (a fresh evaluator instance: another process) recomputes nothing
        ModelEvaluator again = new ModelEvaluator(store, new Datasets(Optional.empty(), Map.of("tiny", text.toString()), List.of()),
                ScoreCache.besideBlobs(tmp.resolve("blobs")), 1);
        List<ModelScored> s = again.evaluate(TestModels.task("j9", 0, pruned, source, 0, "tiny"));
        assertEquals(0, again.perplexityRuns());
        assertEquals(0, again.sizeRuns());
        assertTrue(Files.list(tmp.resolve("scores")).anyMatch(p -> p.getFileName().toString().startsWith(source + "-tiny-")));
        assertEquals("j9", metric(s, "ppl").getJobId());
        // a different token cap is a different score
        List<ModelScored> capped = again.evaluate(TestModels.task("j9", 0, pruned, source, 40, "tiny"));
        assertEquals(40, metric(capped, "ppl").getTokens());
        assertEquals(2, again.perplexityRuns());
    }

    @Test
    void badDatasetsAndModelsAreNamedInTheError() throws IOException {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> evaluator.evaluate(TestModels.task("j", -1, source, source, 0, "lambada-oops")));
        assertTrue(unknown.getMessage().contains("lambada-oops") && unknown.getMessage().contains("tiny"), unknown.getMessage());
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                () -> evaluator.evaluate(TestModels.task("j", -1, source, source, 0, "file:/etc/hostname")));
        assertTrue(outside.getMessage().contains("outside the allowed roots"), outside.getMessage());
        NoSuchFileException missingFile = assertThrows(NoSuchFileException.class,
                () -> evaluator.evaluate(TestModels.task("j", -1, source, source, 0, "wikitext2")));
        assertTrue(missingFile.getMessage().contains("wikitext2"), missingFile.getMessage());
        String absent = "ab".repeat(32);
        NoSuchFileException missingModel = assertThrows(NoSuchFileException.class,
                () -> evaluator.evaluate(TestModels.task("j", -1, absent, absent, 0, "tiny")));
        assertTrue(missingModel.getMessage().contains(absent), missingModel.getMessage());
    }

    @Test
    void stories260KScoresTheReferenceNllThroughTheStore() throws IOException {
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
        List<ModelScored> s = ev.evaluate(TestModels.task("j", -1, digest, digest, 0, "tinystories"));
        System.out.printf("stories260K via ModelEvaluator on tinystories: nll %.5f over %d tokens, params %.0f%n",
                metric(s, "nll").getValue(), metric(s, "nll").getTokens(), metric(s, "params").getValue());
        assertEquals(15_536, metric(s, "nll").getTokens());
        assertEquals(1.75994, metric(s, "nll").getValue(), 0.002);
    }
}
