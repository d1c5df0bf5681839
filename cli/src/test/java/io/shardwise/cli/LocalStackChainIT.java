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
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.ShardCompleted;
import io.shardwise.proto.v1.TensorEntry;
import io.shardwise.quantizer.BitPlan;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo's chain on stories260K through the real local stack (a KRaft broker, the gateway and the
 * four services as separate JVMs, two quantizer instances), plus the failure behaviour of issue #3:
 * a failing task fails only its job, and a quantizer killed with -9 mid-stage changes nothing in the output; and the
 * calibrated stages of issue #5: GPTQ sequential (activation blobs handed from block to block) and independent, and an
 * rtn target_bpw stage with its plan shard, spread over both quantizer instances; and issue #6's chains:
 * prune(sparsegpt 50%) -> gptq 4-bit (the mask survives), prune(attention heads 25%) -> kd -> Q8_0 (6/3 heads) and
 * shortgpt (one block removed) -> Q8_0, each stage scored by the evaluator.
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
        // passes the gateway (an override's type is the technique's to read) but every shard throws in the quantizer
        String bad = "stages:\n  - quantize: { method: rtn, type: Q4_0, overrides: '{\"attn_q\": {\"type\": \"Q9_9\"}}' }\nevaluate: { suites: [] }\n";
        String good = "stages:\n  - quantize: { method: rtn, type: Q4_0 }\nevaluate: { suites: [] }\n";
        Job failing = client.submit(SubmitCommand.modelUri(model.toString()), bad);
        ChainRun ok = run(good);
        ChainRun failed = ChainRun.follow(client, failing.getJobId(), System.nanoTime(), e -> { });
        assertTrue(ok.succeeded(), "the other job should succeed: " + ok.finished().getError());
        Job j = client.get(failing.getJobId());
        assertEquals(JobState.FAILED, j.getState(), JobFormat.job(j));
        assertFalse(j.getError().isEmpty(), "GetJob carries the error");
        System.out.println("failed job's error: " + j.getError());
        assertTrue(j.getError().contains("params.overrides.attn_q.type 'Q9_9' is not one of"), j.getError());
        assertEquals(j.getError(), failed.finished().getError());
    }

    @Test
    @Order(3)
    void calibratedStagesShareBothQuantizersAndSequentialMatchesTheInProcessChain() throws Exception {
        SharedData.require("text/tinystories/train_head.txt");
        String evaluate = "{ suites: [" + DATASET + "], max_tokens: 2000 }";
        String seqYaml = InProcessCalibrationTest.recipe(InProcessCalibrationTest.gptqStage("sequential"), evaluate);
        String indYaml = InProcessCalibrationTest.recipe(InProcessCalibrationTest.gptqStage("independent"), evaluate);
        String planYaml = InProcessCalibrationTest.recipe(InProcessCalibrationTest.PLAN_STAGE, evaluate);
        long t0 = System.nanoTime();
        String uri = SubmitCommand.modelUri(model.toString());
        // submitted together: the jobs pipeline behind each other on the two quantizers
        List<Job> jobs = List.of(client.submit(uri, seqYaml), client.submit(uri, indYaml), client.submit(uri, planYaml));
        List<ChainRun> runs = new ArrayList<>();
        for (Job j : jobs) runs.add(ChainRun.follow(client, j.getJobId(), t0, e -> { }));
        ChainRun seq = runs.get(0), ind = runs.get(1), plan = runs.get(2);
        System.out.printf(Locale.ROOT, "E2E calibrated stages (gptq sequential, gptq independent, rtn target_bpw; submitted together): %.1f s%n",
                (System.nanoTime() - t0) / 1e9);
        for (ChainRun r : runs) {
            System.out.print(r.table().render());
            assertTrue(r.succeeded(), "job " + r.jobId() + " failed: " + r.finished().getError());
        }

        // the evaluator scored every calibrated stage, with fewer bits per weight than the source
        double source = ppl(seq, -1);
        for (ChainRun r : runs) {
            double q = ppl(r, 0);
            assertTrue(Double.isFinite(q) && q > source * 0.98 && q < source * 1.5, "stage 0 ppl " + q + " vs source " + source + " (job " + r.jobId() + ")");
            assertTrue(r.score(0, "bpw", "").orElseThrow().getValue() < r.score(-1, "bpw", "").orElseThrow().getValue(), "fewer bits per weight");
        }

        // both quantizer instances ran shards of the calibrated stages (the task log line of each instance)
        Map<String, Map<String, Integer>> byInstance = new TreeMap<>();
        for (StackProcess q : stack.instances(Service.QUANTIZER)) {
            List<String> lines = Files.readAllLines(q.log(), StandardCharsets.ISO_8859_1);
            Map<String, Integer> perJob = new LinkedHashMap<>();
            for (ChainRun r : runs) {
                String marker = "[job " + r.jobId() + " stage 0 shard ";
                perJob.put(r.jobId(), (int) lines.stream().filter(l -> l.contains(marker) && l.contains("] done in ")).count());
            }
            byInstance.put(q.name(), perJob);
        }
        System.out.println("calibrated shards done per quantizer instance, by job: " + byInstance);
        assertEquals(2, byInstance.size());
        byInstance.forEach((name, perJob) -> assertTrue(perJob.values().stream().mapToInt(Integer::intValue).sum() > 0,
                name + " ran no shard of the calibrated stages: " + byInstance));

        // sequential: blocks completed in order, each handing its output activations (a stored blob) to the next
        assertTrue(seq.events().getFirst().getSubmitted().getStagePlans(0).getSequential(), "gptq sequential is planned as a chain");
        List<ShardCompleted> seqBlocks = completions(seq).stream().filter(c -> c.getShardId().startsWith("block.")).toList();
        for (int b = 0; b < seqBlocks.size(); b++) {
            ShardCompleted c = seqBlocks.get(b);
            assertEquals("block." + b, c.getShardId(), "sequential blocks complete in order");
            assertFalse(c.getDone().getActivations().isEmpty(), c.getShardId() + " carries its output activations");
            assertTrue(store.blobs().exists(c.getDone().getActivations()), c.getShardId() + "'s activation blob is stored");
        }
        assertFalse(ind.events().getFirst().getSubmitted().getStagePlans(0).getSequential());
        assertTrue(completions(ind).stream().allMatch(c -> c.getDone().getActivations().isEmpty()), "independent blocks hand nothing on");

        // the same recipe in one JVM (the in-process chain, same blob store): the same tensors, byte for byte, and the same ppl
        Path local = layout.root().resolve("cli/target/it-inprocess-" + System.currentTimeMillis());
        InProcessChain.Result inProcess = new InProcessChain(stack.options().blobRoot(), local.resolve("output"), layout,
                line -> System.out.println("[in-process] " + line)).run(model, seqYaml);
        ModelManifest viaKafka = store.manifest(seq.finished().getFinalManifest()), here = store.manifest(inProcess.finalManifest());
        assertEquals(here.getTensorsList(), viaKafka.getTensorsList(), "sequential GPTQ through Kafka equals the in-process chain tensor for tensor");
        double localPpl = inProcess.table().row(0).ppl().get(DATASET);
        assertEquals(localPpl, ppl(seq, 0), 1e-6, "the evaluator's ppl equals the in-process chain's");
        ModelManifest indOut = store.manifest(ind.finished().getFinalManifest());
        assertFalse(indOut.getTensorsList().equals(viaKafka.getTensorsList()), "independent calibration gives other weights than sequential");

        // target_bpw: the plan shard ran first, alone, and every matrix has the plan's type
        List<ShardCompleted> planDone = completions(plan);
        assertEquals("plan", planDone.getFirst().getShardId(), "the plan shard completes before any other");
        String planDigest = planDone.getFirst().getDone().getPlan();
        assertFalse(planDigest.isEmpty(), "the plan shard's ShardDone names its plan");
        BitPlan bitPlan = BitPlan.load(store.blobs(), planDigest);
        int matrices = 0;
        for (TensorEntry e : store.manifest(plan.finished().getFinalManifest()).getTensorsList()) {
            if (e.getShapeCount() < 2) continue;
            matrices++;
            assertEquals(bitPlan.types().get(e.getName()).typeName(), e.getType(), e.getName() + " has the plan's type");
        }
        assertEquals(bitPlan.types().size(), matrices, "the plan covers every matrix");
        assertTrue(new HashSet<>(bitPlan.types().values()).size() >= 2, "a 5.5 bpw budget mixes types: " + bitPlan.types());
    }

    private static List<ShardCompleted> completions(ChainRun r) {
        return r.events().stream().filter(JobEvent::hasShardCompleted).map(JobEvent::getShardCompleted).filter(c -> c.getStageIndex() == 0).toList();
    }

    @Test
    @Order(10) // last: it kills a quantizer, and the tests before it need both
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

    @Test
    @Order(5)
    void structuredAndSparseChainsRunThroughTopicsAndEveryStageIsScored() throws Exception {
        SharedData.require("text/tinystories/train_head.txt");
        String uri = SubmitCommand.modelUri(model.toString());
        long t0 = System.nanoTime();
        // submitted together: prune(sparsegpt) -> gptq, prune(heads) -> kd -> Q8_0, shortgpt -> Q8_0
        List<Job> jobs = List.of(client.submit(uri, InProcessPruneQuantizeChainTest.RECIPE),
                client.submit(uri, Files.readString(layout.root().resolve("recipes/heads-stories260k.yaml"))),
                client.submit(uri, Files.readString(layout.root().resolve("recipes/shortgpt-stories260k.yaml"))));
        List<ChainRun> runs = new ArrayList<>();
        for (Job j : jobs) runs.add(ChainRun.follow(client, j.getJobId(), t0, e -> { }));
        System.out.printf(Locale.ROOT, "E2E sparsegpt->gptq, heads->kd->Q8_0, shortgpt->Q8_0 through Kafka (submitted together): %.1f s%n",
                (System.nanoTime() - t0) / 1e9);
        for (ChainRun r : runs) {
            System.out.print(r.table().render());
            assertTrue(r.succeeded(), "job " + r.jobId() + " failed: " + r.finished().getError());
        }

        ChainRun sparse = runs.get(0);
        double source = ppl(sparse, -1), pruned = ppl(sparse, 0), quantized = ppl(sparse, 1);
        assertTrue(pruned > source && quantized > pruned * 0.98, "ppl source " + source + ", pruned " + pruned + ", quantized " + quantized);
        assertEquals(0.5, InProcessPruneQuantizeChainTest.maskedShareKept(store,
                sparse.stageCompleted(0).orElseThrow().getOutputManifest(), sparse.stageCompleted(1).orElseThrow().getOutputManifest()), 0.01);

        ChainRun heads = runs.get(1);
        var headsConfig = store.manifest(heads.stageCompleted(0).orElseThrow().getOutputManifest()).getConfig();
        assertEquals(List.of(6, 3), List.of(headsConfig.getNHeads(), headsConfig.getNKvHeads()), "25% of 8/4 heads: one GQA group per layer");
        double hPruned = ppl(heads, 0), hDistilled = ppl(heads, 1), hQuantized = ppl(heads, 2);
        // KD through the distiller service is not reproducible run to run (6.76 in two runs, 7.73 in a third): that KD
        // recovers ppl is asserted in process (InProcessAttentionHeadsTest); here every stage must run and be scored
        assertTrue(hPruned > ppl(heads, -1) && Double.isFinite(hDistilled), "heads: pruned " + hPruned + ", distilled " + hDistilled);
        assertTrue(Math.abs(hQuantized / hDistilled - 1) <= 0.01, "heads: Q8_0 " + hQuantized + " vs distilled " + hDistilled);
        assertTrue(Files.size(Path.of(heads.finished().getOutputPath())) > 0);

        ChainRun shortGpt = runs.get(2);
        assertEquals(4, store.manifest(shortGpt.stageCompleted(0).orElseThrow().getOutputManifest()).getConfig().getNLayers(), "one of 5 blocks removed");
        assertTrue(ppl(shortGpt, 0) > ppl(shortGpt, -1) && ppl(shortGpt, 1) > 0, "shortgpt scored at every stage");
    }
}
