package io.shardwise.cli;

import io.shardwise.cli.RepoLayout.Service;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ModelScored;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo's chain on stories260K through the real local stack (a KRaft broker, the gateway and the
 * four services as separate JVMs, two quantizer instances), plus the failure behaviour of issue #3:
 * a failing task fails only its job, and a quantizer killed with -9 mid-stage changes nothing in the output.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class LocalStackChainIT {
    private static final String DATASET = "tinystories";
    private static RepoLayout layout;
    private static LocalStack stack;
    private static JobClient client;
    private static ModelStore store;
    private static Path model;

    @BeforeAll
    static void startStack() throws Exception {
        model = SharedData.stories260K();
        layout = RepoLayout.find();
        layout.missingJar().ifPresent(jar -> {
            String reason = "skipped: " + jar + " is missing (run ./mvnw package first; the end-to-end test needs the services' quarkus-app jars)";
            System.out.println(reason);
            Assumptions.abort(reason);
        });
        Path runDir = layout.root().resolve("cli/target/it-stack-" + System.currentTimeMillis());
        LocalStack.Options options = LocalStack.Options.in(runDir)
                .withModelRoots(DemoCommand.modelRoots(layout, model))
                .withInstances(Service.QUANTIZER, 2)
                // a killed instance's partitions move to the survivor after this, not Kafka's default 45 s
                .withProperties(Map.of("mp.messaging.incoming.tasks.session.timeout.ms", "8000",
                        "mp.messaging.incoming.tasks.heartbeat.interval.ms", "2000"), Service.QUANTIZER, Service.PRUNER, Service.DISTILLER);
        stack = LocalStack.start(layout, options, line -> System.out.println("[stack] " + line));
        client = JobClient.connect(stack.grpcAddress());
        store = new ModelStore(new FileBlobStore(options.blobRoot()));
    }

    @AfterAll
    static void stopStack() {
        if (client != null) client.close();
        if (stack != null) stack.close();
    }

    private static ChainRun run(String recipeYaml) {
        EventPrinter printer = new EventPrinter();
        return ChainRun.run(client, SubmitCommand.modelUri(model.toString()), recipeYaml, e -> {
            String line = printer.line(e);
            if (line != null) System.out.println("[job] " + line);
        });
    }

    private static double ppl(ChainRun r, int stage) {
        return r.score(stage, "ppl", DATASET).map(ModelScored::getValue)
                .orElseThrow(() -> new AssertionError("no ppl score on " + DATASET + " for stage " + stage + "; scores: " + r.scores()));
    }

    @Test
    @Order(1)
    void demoChainOnStories260K() throws Exception {
        ChainRun r = run(Files.readString(layout.root().resolve("recipes/chain-stories260k.yaml")));
        System.out.printf(Locale.ROOT, "E2E stories260K chain through Kafka: %.1f s (job %s)%n", r.elapsed().toMillis() / 1e3, r.jobId());
        System.out.print(r.table().render());
        assertTrue(r.succeeded(), "job failed: " + r.finished().getError());

        // scores arrive for the source and every stage
        double source = ppl(r, -1), pruned = ppl(r, 0), distilled = ppl(r, 1), quantized = ppl(r, 2);
        r.score(-1, "nll", DATASET).ifPresent(nll -> assertEquals(1.75994, nll.getValue(), 0.002, "source NLL vs the pinned reference"));
        assertTrue(pruned > source, "2:4 pruning should cost perplexity: " + pruned + " vs " + source);
        assertTrue(distilled < pruned, "KD should lower the pruned model's ppl: " + distilled + " vs " + pruned);
        assertTrue(Math.abs(quantized / distilled - 1) <= 0.005, "Q8_0 ppl within 0.5% of the stage before: " + quantized + " vs " + distilled);
        assertTrue(r.score(2, "bpw", "").orElseThrow().getValue() < r.score(-1, "bpw", "").orElseThrow().getValue(), "Q8_0 has fewer bits per weight");

        // exactly 2 of every 4 weights are zero in every pruned matrix
        String prunedDigest = r.stageCompleted(0).orElseThrow().getOutputManifest();
        LlamaModel m = store.load(prunedDigest);
        for (int l = 0; l < m.config().nLayers(); l++) {
            for (String name : TensorNames.blockMatrices(l)) assertTwoOfFourZero(m.tensor(name));
        }

        // the GGUF was written where the job says
        String out = r.finished().getOutputPath();
        assertFalse(out.isEmpty(), "no output path");
        assertTrue(Files.size(Path.of(out)) > 0, out);
    }

    private static void assertTwoOfFourZero(Tensor t) {
        float[] w = t.toFloats();
        assertEquals(0, t.cols() % 4, t.name());
        for (int g = 0; g < w.length; g += 4) {
            int zeros = 0;
            for (int i = g; i < g + 4; i++) if (w[i] == 0f) zeros++;
            if (zeros != 2) throw new AssertionError(t.name() + ": group at " + g + " has " + zeros + " zeros, want exactly 2");
        }
    }

    @Test
    @Order(2)
    void failingTaskFailsItsJobWhileAnotherJobSucceeds() throws Exception {
        // passes the gateway (pattern is free text) but every block shard throws in the pruner: N:M needs N < M
        String bad = "stages:\n  - prune: { method: magnitude, pattern: \"4:2\" }\nevaluate: { suites: [] }\n";
        String good = "stages:\n  - quantize: { method: rtn, type: Q4_0 }\nevaluate: { suites: [] }\n";
        Job failing = client.submit(SubmitCommand.modelUri(model.toString()), bad);
        ChainRun ok = run(good);
        ChainRun failed = ChainRun.follow(client, failing.getJobId(), System.nanoTime(), e -> { });
        assertTrue(ok.succeeded(), "the other job should succeed: " + ok.finished().getError());
        Job j = client.get(failing.getJobId());
        assertEquals(JobState.FAILED, j.getState(), JobFormat.job(j));
        assertFalse(j.getError().isEmpty(), "GetJob carries the error");
        System.out.println("failed job's error: " + j.getError());
        assertTrue(j.getError().contains("N:M needs 1 <= N < M"), j.getError());
        assertEquals(j.getError(), failed.finished().getError());
    }

    @Test
    @Order(3)
    void quantizerKilledMidStageChangesNothing() throws Exception {
        String recipe = "stages:\n  - prune: { method: magnitude, pattern: \"2:4\" }\n  - quantize: { method: rtn, type: Q8_0 }\nevaluate: { suites: [] }\n";
        ChainRun reference = run(recipe);
        assertTrue(reference.succeeded(), reference.finished().getError());

        List<StackProcess> quantizers = stack.instances(Service.QUANTIZER);
        assertEquals(2, quantizers.size());
        Job job = client.submit(SubmitCommand.modelUri(model.toString()), recipe);
        String marker = "[job " + job.getJobId() + " stage 1 shard ";
        StackProcess[] killed = new StackProcess[1];
        ChainRun r = ChainRun.follow(client, job.getJobId(), System.nanoTime(), e -> {
            if (killed[0] == null && e.hasStageStarted() && e.getStageStarted().getStageIndex() == 1) {
                killed[0] = killFirstToStart(quantizers, marker);
            }
        });
        assertTrue(killed[0] != null, "no quantizer started a shard of the quantize stage");
        System.out.println("killed " + killed[0].name() + " (pid " + killed[0].pid() + ") mid-stage");
        assertTrue(r.succeeded(), "job should finish after kill -9: " + r.finished().getError());
        assertEquals(reference.finished().getFinalManifest(), r.finished().getFinalManifest(), "output digest equals the uninterrupted run's");
        long completions = r.events().stream().filter(JobEvent::hasShardCompleted)
                .filter(e -> e.getShardCompleted().getStageIndex() == 1).count();
        assertEquals(r.events().stream().filter(JobEvent::hasStageStarted).filter(e -> e.getStageStarted().getStageIndex() == 1)
                .findFirst().orElseThrow().getStageStarted().getShardCount(), completions, "each shard completes once");
    }

    /** kill -9 the first quantizer whose log shows it started a shard of the stage (polling, up to 30 s). */
    private static StackProcess killFirstToStart(List<StackProcess> quantizers, String marker) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            for (StackProcess q : quantizers) {
                if (q.logTail(400).contains(marker)) {
                    q.kill9();
                    return q;
                }
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return null;
    }
}
