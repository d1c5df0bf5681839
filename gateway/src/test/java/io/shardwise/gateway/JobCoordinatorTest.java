package io.shardwise.gateway;

import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.EvalTask;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobControl;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardFailed;
import io.shardwise.proto.v1.ShardProgress;
import io.shardwise.proto.v1.StageTask;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.shardwise.gateway.CoordinatorFixture.events;
import static io.shardwise.gateway.CoordinatorFixture.score;
import static io.shardwise.gateway.CoordinatorFixture.tasks;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JobCoordinatorTest {
    @TempDir
    Path tmp;
    CoordinatorFixture fx;
    /** Everything the coordinator published, in order: the job log and the tasks. */
    final List<Outbound> published = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        fx = new CoordinatorFixture(tmp);
    }

    List<Outbound> run(List<Outbound> out) {
        published.addAll(out);
        return out;
    }

    /** Answers every task of the current stage; returns the messages of the last answer. */
    List<Outbound> runStage(List<StageTask> tasks) throws Exception {
        List<Outbound> last = List.of();
        for (StageTask t : tasks) last = run(fx.coordinator.onShardEvent(fx.answer(t)));
        return last;
    }

    @Test
    void happyPathRunsEveryStageThenEvaluatesAndWritesTheModel() throws Exception {
        List<Outbound> out = run(fx.coordinator.submit(fx.submitPlan("job-a")));
        List<JobEvent> ev = events(out);
        assertEquals(2, ev.size());
        assertTrue(ev.get(0).hasSubmitted());
        assertEquals(1, ev.get(0).getSeq());
        assertTrue(ev.get(1).hasStageStarted());
        assertEquals(4, ev.get(1).getStageStarted().getShardCount()); // embed, block.0, block.1, head
        List<StageTask> prune = tasks(out);
        assertEquals(List.of("embed", "block.0", "block.1", "head"), prune.stream().map(t -> t.getShard().getShardId()).toList());
        assertTrue(out.stream().filter(o -> o.message() instanceof StageTask).allMatch(o -> o.topic() == Topics.PRUNE_TASKS
                && o.key().equals("job-a/" + ((StageTask) o.message()).getShard().getShardId())));
        assertEquals(List.of("blk.0.attn_k.weight", "blk.0.attn_norm.weight", "blk.0.attn_output.weight", "blk.0.attn_q.weight",
                "blk.0.attn_v.weight", "blk.0.ffn_down.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_up.weight"),
                prune.get(1).getShard().getTensorsList());
        assertEquals(List.of("output_norm.weight"), prune.get(3).getShard().getTensorsList()); // tied classifier
        EvalTask sourceEval = (EvalTask) out.stream().filter(o -> o.topic() == Topics.EVAL_TASKS).findFirst().orElseThrow().message();
        assertEquals(-1, sourceEval.getStageIndex());
        assertEquals(fx.source, sourceEval.getManifest());
        assertEquals(JobState.RUNNING, fx.coordinator.job("job-a").orElseThrow().getState());

        // prune: progress per shard, then the stage completes with an output manifest and its evaluation
        List<Outbound> first = run(fx.coordinator.onShardEvent(fx.answer(prune.get(0))));
        assertEquals(1, events(first).getFirst().getShardCompleted().getDoneCount());
        assertEquals(4, events(first).getFirst().getShardCompleted().getShardCount());
        List<Outbound> end = runStage(prune.subList(1, 4));
        Job afterPrune = fx.coordinator.job("job-a").orElseThrow();
        String pruned = afterPrune.getStages(0).getOutputManifest();
        assertTrue(afterPrune.getStages(0).getCompleted());
        assertEquals(4, afterPrune.getStages(0).getShardsDone());
        assertEquals(fx.source, fx.store.manifest(pruned).getParent());
        assertEquals("magnitude", fx.store.manifest(pruned).getStage().getMethod());
        double zeros = afterPrune.getStages(0).getStatsOrThrow("zeros"), elements = afterPrune.getStages(0).getStatsOrThrow("elements");
        assertEquals(fx.store.load(fx.source).parameterCount(), (long) elements);
        assertEquals(zeros / elements, afterPrune.getStages(0).getStatsOrThrow("sparsity"), 1e-12);
        assertTrue(zeros > 0.2 * elements && zeros < 0.6 * elements, "about 40% of N(0, 0.2) weights are below 0.1: " + zeros / elements);
        assertEquals(4, afterPrune.getStages(0).getNotesCount());
        EvalTask pruneEval = end.stream().filter(o -> o.message() instanceof EvalTask).map(o -> (EvalTask) o.message()).findFirst().orElseThrow();
        assertEquals(0, pruneEval.getStageIndex());
        assertEquals(pruned, pruneEval.getManifest());
        assertEquals(List.of("tinystories"), pruneEval.getSpec().getDatasetsList());

        // distill: a whole-model stage gets one shard "model" that reads the pruned model
        List<StageTask> distill = tasks(end);
        assertEquals(1, distill.size());
        assertEquals("model", distill.getFirst().getShard().getShardId());
        assertEquals(fx.tensorNames.size(), distill.getFirst().getShard().getTensorsCount());
        assertEquals(pruned, distill.getFirst().getInputManifest());
        assertEquals(fx.source, distill.getFirst().getSourceManifest());
        List<StageTask> quantize = tasks(runStage(distill));
        assertEquals(4, quantize.size());
        assertTrue(published.stream().filter(o -> o.message() instanceof StageTask t && t.getStage().getIndex() == 2).allMatch(o -> o.topic() == Topics.QUANTIZE_TASKS));
        runStage(quantize);
        Job evaluating = fx.coordinator.job("job-a").orElseThrow();
        assertEquals(JobState.EVALUATING, evaluating.getState());

        // scores: the job finishes only when every evaluation (source and three stages) said eval_done
        for (int s = -1; s < 3; s++) run(fx.coordinator.onScored(score("job-a", s, "ppl", "tinystories", 6.0 + s)));
        for (int s = -1; s < 2; s++) run(fx.coordinator.onScored(score("job-a", s, ScoreMarkers.EVAL_DONE, "", 1)));
        assertEquals(JobState.EVALUATING, fx.coordinator.job("job-a").orElseThrow().getState());
        assertTrue(run(fx.coordinator.onScored(score("job-a", 0, "ppl", "tinystories", 6.0))).isEmpty(), "a redelivered score is dropped");
        List<Outbound> fin = run(fx.coordinator.onScored(score("job-a", 2, ScoreMarkers.EVAL_DONE, "", 1)));
        Job done = fx.coordinator.job("job-a").orElseThrow();
        assertEquals(JobState.SUCCEEDED, done.getState(), done.getError());
        assertEquals(4, done.getScoresCount());
        assertTrue(events(fin).getLast().hasFinished());
        Path file = Path.of(done.getOutputPath());
        assertEquals(fx.outputDir.resolve("job-a.gguf").toAbsolutePath(), file);
        String finalManifest = done.getStages(2).getOutputManifest();
        assertEquals(finalManifest, events(fin).getLast().getFinished().getFinalManifest());
        try (Arena arena = Arena.ofShared()) {
            LlamaModel written = ModelFiles.open(file, arena);
            LlamaModel expected = fx.store.load(finalManifest);
            assertEquals(expected.tensors().keySet(), written.tensors().keySet());
            for (var t : expected.tensors().values()) {
                assertEquals(GgmlType.F16, t.type());
                assertArrayEquals(t.data().toArray(ValueLayout.JAVA_BYTE), written.tensor(t.name()).data().toArray(ValueLayout.JAVA_BYTE), t.name());
            }
        }
        // seq numbers run 1..n without gaps
        List<JobEvent> log = fx.coordinator.events("job-a");
        for (int i = 0; i < log.size(); i++) assertEquals(i + 1, log.get(i).getSeq());
        assertEquals(log.size(), done.getLastSeq());
    }

    @Test
    void duplicateShardDoneIsDropped() throws Exception {
        List<StageTask> prune = tasks(run(fx.coordinator.submit(fx.submitPlan("job-d"))));
        ShardEvent done = fx.answer(prune.get(1));
        assertEquals(1, events(run(fx.coordinator.onShardEvent(done))).size());
        long seq = fx.coordinator.job("job-d").orElseThrow().getLastSeq();
        assertTrue(fx.coordinator.onShardEvent(done).isEmpty());
        assertTrue(fx.coordinator.onShardEvent(done.toBuilder().setInstance("test-2").build()).isEmpty());
        Job j = fx.coordinator.job("job-d").orElseThrow();
        assertEquals(1, j.getStages(0).getShardsDone());
        assertEquals(seq, j.getLastSeq());
        // the rest of the stage completes once, with four shards
        runStage(List.of(prune.get(0), prune.get(2), prune.get(3)));
        assertTrue(fx.coordinator.onShardEvent(done).isEmpty(), "a ShardDone for a completed stage is dropped too");
        assertEquals(1, fx.coordinator.events("job-d").stream().filter(JobEvent::hasStageCompleted).count());
    }

    @Test
    void deadLetteredShardFailsTheJobWithItsError() throws Exception {
        List<StageTask> prune = tasks(run(fx.coordinator.submit(fx.submitPlan("job-f"))));
        ShardEvent retrying = ShardEvent.newBuilder().setJobId("job-f").setStageIndex(0).setShardId("block.1")
                .setFailed(ShardFailed.newBuilder().setError("java.lang.OutOfMemoryError: boom").setAttempts(1)).build();
        assertTrue(fx.coordinator.onShardEvent(retrying).isEmpty(), "a failure that will be retried changes nothing");
        run(fx.coordinator.onShardEvent(fx.answer(prune.get(0))));
        List<Outbound> out = run(fx.coordinator.onShardEvent(retrying.toBuilder()
                .setFailed(ShardFailed.newBuilder().setError("java.lang.OutOfMemoryError: boom").setAttempts(3).setDeadLettered(true)).build()));
        assertTrue(events(out).getFirst().hasFinished());
        JobControl stop = (JobControl) out.stream().filter(o -> o.topic() == Topics.CONTROL).findFirst().orElseThrow().message();
        assertTrue(stop.getCancelled(), "the services drop the failed job's other tasks");
        Job j = fx.coordinator.job("job-f").orElseThrow();
        assertEquals(JobState.FAILED, j.getState());
        assertEquals("stage 0 (prune) shard block.1 failed after 3 attempts: java.lang.OutOfMemoryError: boom", j.getError());
        assertTrue(fx.coordinator.onShardEvent(fx.answer(prune.get(2))).isEmpty(), "a failed job ignores further events");
        assertTrue(fx.coordinator.cancel("job-f", "too late").isEmpty());
    }

    @Test
    void failedEvaluationFailsTheJobWithTheEvaluatorsError() throws Exception {
        tasks(run(fx.coordinator.submit(fx.submitPlan("job-e"))));
        run(fx.coordinator.onScored(score("job-e", -1, "eval_failed", "", Double.NaN).toBuilder()
                .setError("dataset wikitext2: no such file").build()));
        Job j = fx.coordinator.job("job-e").orElseThrow();
        assertEquals(JobState.FAILED, j.getState());
        assertTrue(j.getError().startsWith("evaluation of stage -1 "), j.getError());
        assertTrue(j.getError().endsWith("failed: dataset wikitext2: no such file"), j.getError());
    }

    @Test
    void cancelPublishesControlAndIgnoresLaterEvents() throws Exception {
        List<StageTask> prune = tasks(run(fx.coordinator.submit(fx.submitPlan("job-c"))));
        List<Outbound> out = run(fx.coordinator.cancel("job-c", "user changed their mind"));
        JobControl control = (JobControl) out.stream().filter(o -> o.topic() == Topics.CONTROL).findFirst().orElseThrow().message();
        assertTrue(control.getCancelled());
        assertEquals("job-c", control.getJobId());
        assertEquals(JobState.CANCELLED, events(out).getFirst().getFinished().getState());
        assertEquals(JobState.CANCELLED, fx.coordinator.job("job-c").orElseThrow().getState());
        assertTrue(fx.coordinator.onShardEvent(fx.answer(prune.getFirst())).isEmpty());
        assertTrue(fx.coordinator.onScored(score("job-c", -1, "ppl", "tinystories", 5)).isEmpty());
    }

    @Test
    void kvCacheSpecReachesTheEvaluatorAndItsScoresAreKeptBesideTheFloat32Ones() throws Exception {
        SubmitPlan p = fx.submitPlan("job-kv");
        var recipe = io.shardwise.core.recipe.RecipeParser.parse(CoordinatorFixture.RECIPE.replace(
                "evaluate: { suites: [tinystories] }", "evaluate: { suites: [tinystories], kv_cache: [int8, int4] }")).toProto();
        List<Outbound> submitted = run(fx.coordinator.submit(new SubmitPlan(p.jobId(), p.modelUri(), recipe, p.sourceManifest(),
                p.sourcePlan(), p.stagePlans())));
        EvalTask sourceEval = submitted.stream().filter(o -> o.message() instanceof EvalTask).map(o -> (EvalTask) o.message()).findFirst().orElseThrow();
        assertEquals(List.of("int8", "int4"), sourceEval.getSpec().getKvCacheList());
        assertEquals(1, run(fx.coordinator.onScored(score("job-kv", -1, "ppl", "tinystories", 5.81))).size());
        var int8 = score("job-kv", -1, "ppl", "tinystories", 5.82).toBuilder().setKvCache("int8").setBaselineValue(5.81).build();
        assertEquals(1, run(fx.coordinator.onScored(int8)).size(), "the int8-KV ppl is not a redelivery of the f32 one");
        assertTrue(run(fx.coordinator.onScored(int8)).isEmpty(), "a redelivered int8-KV score is dropped");
        Job job = fx.coordinator.job("job-kv").orElseThrow();
        assertEquals(List.of("", "int8"), job.getScoresList().stream().map(s -> s.getKvCache()).toList());
    }

    @Test
    void eventsForUnknownJobsStagesOrShardsAreDropped() throws Exception {
        List<StageTask> prune = tasks(run(fx.coordinator.submit(fx.submitPlan("job-u"))));
        ShardEvent ok = fx.answer(prune.getFirst());
        assertTrue(fx.coordinator.onShardEvent(ok.toBuilder().setJobId("job-none").build()).isEmpty());
        assertTrue(fx.coordinator.onShardEvent(ok.toBuilder().setShardId("block.9").build()).isEmpty());
        assertTrue(fx.coordinator.onShardEvent(ok.toBuilder().setStageIndex(1).setShardId("model").build()).isEmpty(), "stage 1 has not started");
        List<Outbound> progress = fx.coordinator.onShardEvent(ShardEvent.newBuilder().setJobId("job-u").setStageIndex(0)
                .setShardId("block.0").setProgress(ShardProgress.newBuilder().setFraction(0.5).setMessage("half")).build());
        assertEquals(0.5, events(progress).getFirst().getShardProgressed().getFraction());
        assertEquals(0, fx.coordinator.job("job-u").orElseThrow().getStages(0).getShardsDone());
    }

    @Test
    void rebuildFromTheRecordedLogGivesIdenticalState() throws Exception {
        List<StageTask> a = tasks(run(fx.coordinator.submit(fx.submitPlan("job-1"))));
        tasks(run(fx.coordinator.submit(fx.submitPlan("job-2"))));
        List<StageTask> distill = tasks(runStage(a));
        runStage(distill);
        run(fx.coordinator.onScored(score("job-1", -1, "ppl", "tinystories", 5.5)));
        run(fx.coordinator.onScored(score("job-1", -1, ScoreMarkers.EVAL_DONE, "", 1)));
        run(fx.coordinator.cancel("job-2", "stop"));

        JobCoordinator rebuilt = fx.newCoordinator();
        // the log as Kafka would hold it, with one event delivered twice
        List<JobEvent> log = new ArrayList<>(events(published));
        log.add(5, log.get(4));
        for (JobEvent e : log) rebuilt.replay(e);
        assertTrue(rebuilt.resume().isEmpty(), "nothing was left half-done");
        for (String id : List.of("job-1", "job-2")) {
            assertEquals(fx.coordinator.job(id).orElseThrow(), rebuilt.job(id).orElseThrow());
            assertEquals(fx.coordinator.events(id), rebuilt.events(id));
        }
        assertEquals(fx.coordinator.jobs(JobState.JOB_STATE_UNSPECIFIED), rebuilt.jobs(JobState.JOB_STATE_UNSPECIFIED));

        // and it goes on where the old one stopped: a redelivered ShardDone is dropped, new ones count
        List<StageTask> quantize = published.stream().filter(o -> o.message() instanceof StageTask t
                && t.getJobId().equals("job-1") && t.getStage().getIndex() == 2).map(o -> (StageTask) o.message()).toList();
        assertEquals(4, quantize.size());
        assertTrue(rebuilt.onShardEvent(fx.answer(distill.getFirst())).isEmpty());
        assertEquals(1, events(rebuilt.onShardEvent(fx.answer(quantize.getFirst()))).getFirst().getShardCompleted().getDoneCount());
    }

    @Test
    void resumeCompletesAStageInterruptedAfterItsLastShard() throws Exception {
        List<StageTask> prune = tasks(run(fx.coordinator.submit(fx.submitPlan("job-r"))));
        runStage(prune);
        // the old gateway died after the last ShardCompleted, before StageCompleted reached the log
        List<JobEvent> log = events(published).stream().takeWhile(e -> !e.hasStageCompleted()).toList();
        JobCoordinator rebuilt = fx.newCoordinator();
        log.forEach(rebuilt::replay);
        assertFalse(rebuilt.job("job-r").orElseThrow().getStages(0).getCompleted());
        List<Outbound> resumed = rebuilt.resume();
        Job j = rebuilt.job("job-r").orElseThrow();
        assertTrue(j.getStages(0).getCompleted());
        assertEquals(fx.coordinator.job("job-r").orElseThrow().getStages(0).getOutputManifest(), j.getStages(0).getOutputManifest());
        assertEquals(1, tasks(resumed).size());
    }

    @Test
    void watchReplaysFromASequenceThenFollowsUntilTheEnd() throws Exception {
        List<StageTask> prune = tasks(run(fx.coordinator.submit(fx.submitPlan("job-w"))));
        List<JobEvent> seen = new ArrayList<>();
        boolean[] ended = {false};
        JobCoordinator.Watcher w = new JobCoordinator.Watcher() {
            public void event(JobEvent e) { seen.add(e); }
            public void end() { ended[0] = true; }
        };
        assertTrue(fx.coordinator.watch("job-w", 1, w));
        assertEquals(List.of(2L), seen.stream().map(JobEvent::getSeq).toList());
        run(fx.coordinator.onShardEvent(fx.answer(prune.getFirst())));
        assertEquals(3, seen.getLast().getSeq());
        assertTrue(seen.getLast().hasShardCompleted());
        assertFalse(ended[0]);
        run(fx.coordinator.cancel("job-w", "x"));
        assertTrue(ended[0]);
        assertTrue(seen.getLast().hasFinished());
        assertFalse(fx.coordinator.watch("job-none", 0, w));
        Files.createDirectories(tmp.resolve("x"));
    }
}
