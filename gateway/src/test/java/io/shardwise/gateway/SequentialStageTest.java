package io.shardwise.gateway;

import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardFailed;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.StageTask;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.shardwise.gateway.CoordinatorFixture.events;
import static io.shardwise.gateway.CoordinatorFixture.tasks;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The coordinator's sequential stages (block i+1 after block i, with its activations) and plan shards (one task first, its plan to all others). */
class SequentialStageTest {
    static final String RECIPE = """
            stages:
              - quantize: { method: gptq, group_size: 8 }
              - prune: { method: magnitude, sparsity: 0.5 }
            evaluate: { suites: [tinystories] }
            """;

    @TempDir
    Path tmp;
    CoordinatorFixture fx;
    final List<Outbound> published = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        fx = new CoordinatorFixture(tmp);
    }

    List<Outbound> run(List<Outbound> out) {
        published.addAll(out);
        return out;
    }

    /** Stage 0 sequential (and with a plan shard when asked), stage 1 independent. */
    SubmitPlan submitPlan(String jobId, boolean sequential, boolean planShard) throws Exception {
        Recipe recipe = RecipeParser.parse(RECIPE).toProto();
        StagePlan.Builder q = StagePlan.newBuilder().setStageIndex(0).addAllShards(fx.plan).setSequential(sequential);
        if (planShard) q.setPlanShard(ShardRef.newBuilder().setShardId("plan").setIndex(fx.plan.size()).addAllTensors(fx.tensorNames.stream().sorted().toList()));
        StagePlan p = StagePlan.newBuilder().setStageIndex(1).addAllShards(fx.plan).build();
        return new SubmitPlan(jobId, "file:/models/tiny.bin", recipe, fx.source, fx.plan, List.of(q.build(), p));
    }

    /** A service's answer: real tensors, and for a block its (stand-in) output activations blob, for the plan shard a plan blob. */
    ShardEvent answer(StageTask t) throws Exception {
        String id = t.getShard().getShardId();
        if (id.equals("plan")) {
            String plan = fx.store.blobs().put(("plan of " + t.getJobId()).getBytes(StandardCharsets.UTF_8));
            return event(t, ShardDone.newBuilder().setPlan(plan).addNotes("plan: 4.5 bpw").build());
        }
        ShardEvent e = fx.answer(t);
        if (!id.startsWith("block.") || t.getStage().getIndex() != 0) return e;
        String act = fx.store.blobs().put(("outputs of " + id + " after " + t.getActivations()).getBytes(StandardCharsets.UTF_8));
        return e.toBuilder().setDone(e.getDone().toBuilder().setActivations(act)).build();
    }

    static ShardEvent event(StageTask t, ShardDone done) {
        return ShardEvent.newBuilder().setJobId(t.getJobId()).setStageIndex(t.getStage().getIndex())
                .setShardId(t.getShard().getShardId()).setInstance("test-1").setDone(done).build();
    }

    static List<String> ids(List<StageTask> ts) {
        return ts.stream().map(t -> t.getShard().getShardId()).toList();
    }

    @Test
    void sequentialStageIssuesEachBlockAfterTheOneBeforeWithItsActivations() throws Exception {
        List<StageTask> first = tasks(run(fx.coordinator.submit(submitPlan("job-s", true, false))));
        assertEquals(List.of("embed", "block.0"), ids(first));
        assertTrue(first.stream().allMatch(t -> t.getActivations().isEmpty() && t.getPlan().isEmpty() && t.getShardCount() == 4));
        JobEvent started = events(published).stream().filter(JobEvent::hasStageStarted).findFirst().orElseThrow();
        assertEquals(4, started.getStageStarted().getShardCount(), "progress counts every shard of the stage");

        // embed is independent: its ShardDone lets nothing go
        assertTrue(tasks(run(fx.coordinator.onShardEvent(answer(first.get(0))))).isEmpty());
        ShardEvent block0 = answer(first.get(1));
        List<Outbound> afterBlock0 = run(fx.coordinator.onShardEvent(block0));
        List<StageTask> next = tasks(afterBlock0);
        assertEquals(List.of("block.1"), ids(next));
        assertEquals(block0.getDone().getActivations(), next.getFirst().getActivations());
        // the task goes out before the event that records block.0
        int taskAt = afterBlock0.indexOf(afterBlock0.stream().filter(o -> o.message() instanceof StageTask).findFirst().orElseThrow());
        int eventAt = afterBlock0.indexOf(afterBlock0.stream().filter(o -> o.topic() == Topics.JOB_EVENTS).findFirst().orElseThrow());
        assertTrue(taskAt < eventAt, "task before the ShardCompleted");
        assertTrue(fx.coordinator.onShardEvent(block0).isEmpty(), "a duplicated ShardDone issues nothing twice");
        assertTrue(fx.coordinator.onShardEvent(block0.toBuilder().setInstance("test-2").build()).isEmpty());

        ShardEvent block1 = answer(next.getFirst());
        List<StageTask> head = tasks(run(fx.coordinator.onShardEvent(block1)));
        assertEquals(List.of("head"), ids(head));
        assertEquals(block1.getDone().getActivations(), head.getFirst().getActivations(), "the head reads the last block's outputs");
        assertEquals(3, fx.coordinator.job("job-s").orElseThrow().getStages(0).getShardsDone());

        // the head completes the stage; the next (independent) stage issues every shard at once
        List<StageTask> prune = tasks(run(fx.coordinator.onShardEvent(answer(head.getFirst()))));
        assertEquals(List.of("embed", "block.0", "block.1", "head"), ids(prune));
        assertTrue(prune.stream().allMatch(t -> t.getActivations().isEmpty()));
        Job j = fx.coordinator.job("job-s").orElseThrow();
        assertTrue(j.getStages(0).getCompleted());
        assertEquals(4, j.getStages(0).getShardsDone());
        assertEquals("F16", fx.store.manifest(j.getStages(0).getOutputManifest()).getTensorsList().stream()
                .filter(e -> e.getName().equals("blk.1.attn_q.weight")).findFirst().orElseThrow().getType(), "every block's output is in the manifest");
    }

    @Test
    void aBlockWithoutActivationsFailsTheJob() throws Exception {
        List<StageTask> first = tasks(run(fx.coordinator.submit(submitPlan("job-n", true, false))));
        ShardEvent bare = fx.answer(first.get(1));
        List<Outbound> out = run(fx.coordinator.onShardEvent(bare));
        assertTrue(tasks(out).isEmpty());
        Job j = fx.coordinator.job("job-n").orElseThrow();
        assertEquals(JobState.FAILED, j.getState());
        assertEquals("stage 0 (quantize) shard block.0: sequential calibration hands this block's outputs to block.1, but its ShardDone "
                + "carries no activations (does the method store them in sequential mode?)", j.getError());
        assertTrue(out.stream().anyMatch(o -> o.topic() == Topics.CONTROL), "the services drop the job's other tasks");
    }

    @Test
    void planShardRunsFirstAndItsPlanGoesToEveryOtherTask() throws Exception {
        List<StageTask> first = tasks(run(fx.coordinator.submit(submitPlan("job-p", false, true))));
        assertEquals(List.of("plan"), ids(first));
        assertEquals(fx.tensorNames.size(), first.getFirst().getShard().getTensorsCount());
        ShardEvent planDone = answer(first.getFirst());
        List<Outbound> out = run(fx.coordinator.onShardEvent(planDone));
        List<StageTask> rest = tasks(out);
        assertEquals(List.of("embed", "block.0", "block.1", "head"), ids(rest));
        assertTrue(rest.stream().allMatch(t -> t.getPlan().equals(planDone.getDone().getPlan())));
        assertEquals(0, events(out).getFirst().getShardCompleted().getDoneCount(), "the plan shard is not one of the stage's shards");
        assertEquals(0, fx.coordinator.job("job-p").orElseThrow().getStages(0).getShardsDone());
        assertTrue(fx.coordinator.onShardEvent(planDone).isEmpty(), "a duplicated plan ShardDone issues nothing twice");
        for (StageTask t : rest) run(fx.coordinator.onShardEvent(answer(t)));
        Job j = fx.coordinator.job("job-p").orElseThrow();
        assertTrue(j.getStages(0).getCompleted());
        assertEquals(4, j.getStages(0).getShardsDone());
        assertEquals("plan: 4.5 bpw", j.getStages(0).getNotes(0), "the plan's notes lead the stage's");
        // the output manifest has exactly the model's tensors: the plan added none
        assertEquals(fx.tensorNames.size(), fx.store.manifest(j.getStages(0).getOutputManifest()).getTensorsCount());
    }

    @Test
    void planThenSequential() throws Exception {
        List<StageTask> first = tasks(run(fx.coordinator.submit(submitPlan("job-ps", true, true))));
        ShardEvent planDone = answer(first.getFirst());
        List<StageTask> rest = tasks(run(fx.coordinator.onShardEvent(planDone)));
        assertEquals(List.of("embed", "block.0"), ids(rest));
        List<StageTask> next = tasks(run(fx.coordinator.onShardEvent(answer(rest.get(1)))));
        assertEquals(List.of("block.1"), ids(next));
        assertEquals(planDone.getDone().getPlan(), next.getFirst().getPlan());
        assertFalse(next.getFirst().getActivations().isEmpty());
    }

    @Test
    void aPlanShardWithoutAPlanOrDeadLetteredFailsTheJob() throws Exception {
        List<StageTask> first = tasks(run(fx.coordinator.submit(submitPlan("job-e", false, true))));
        run(fx.coordinator.onShardEvent(event(first.getFirst(), ShardDone.getDefaultInstance())));
        assertEquals("stage 0 (quantize) shard plan: the plan shard finished without a plan (ShardDone.plan is empty)",
                fx.coordinator.job("job-e").orElseThrow().getError());

        tasks(run(fx.coordinator.submit(submitPlan("job-d", false, true))));
        run(fx.coordinator.onShardEvent(ShardEvent.newBuilder().setJobId("job-d").setStageIndex(0).setShardId("plan")
                .setFailed(ShardFailed.newBuilder().setError("sensitivity: out of memory").setAttempts(3).setDeadLettered(true)).build()));
        Job j = fx.coordinator.job("job-d").orElseThrow();
        assertEquals(JobState.FAILED, j.getState());
        assertEquals("stage 0 (quantize) shard plan failed after 3 attempts: sensitivity: out of memory", j.getError());
    }

    @Test
    void aRestartedGatewayIssuesTheRightNextBlock() throws Exception {
        List<StageTask> first = tasks(run(fx.coordinator.submit(submitPlan("job-r", true, true))));
        List<StageTask> rest = tasks(run(fx.coordinator.onShardEvent(answer(first.getFirst()))));
        run(fx.coordinator.onShardEvent(answer(rest.get(0))));
        List<StageTask> block1 = tasks(run(fx.coordinator.onShardEvent(answer(rest.get(1)))));
        assertEquals(List.of("block.1"), ids(block1));

        // the old gateway stops here: half a sequential stage (plan, embed, block.0 done; block.1 issued)
        JobCoordinator rebuilt = fx.newCoordinator();
        events(published).forEach(rebuilt::replay);
        assertTrue(rebuilt.resume().isEmpty(), "nothing was left half-done");
        assertEquals(fx.coordinator.job("job-r").orElseThrow(), rebuilt.job("job-r").orElseThrow());
        // redelivered ShardDones of finished shards issue nothing
        assertTrue(rebuilt.onShardEvent(answer(rest.get(1))).isEmpty());
        assertTrue(rebuilt.onShardEvent(answer(first.getFirst())).isEmpty());
        // block.1's ShardDone reaches the new gateway: it issues the head with block.1's outputs and the plan
        ShardEvent done1 = answer(block1.getFirst());
        List<StageTask> head = tasks(rebuilt.onShardEvent(done1));
        assertEquals(List.of("head"), ids(head));
        assertEquals(done1.getDone().getActivations(), head.getFirst().getActivations());
        assertEquals(block1.getFirst().getPlan(), head.getFirst().getPlan());
        assertFalse(head.getFirst().getPlan().isEmpty());
    }
}
