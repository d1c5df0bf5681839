package io.shardwise.gateway;

import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.StageTask;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.shardwise.gateway.CoordinatorFixture.score;
import static io.shardwise.gateway.CoordinatorFixture.tasks;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A layer-removal stage (ShortGPT) through the coordinator: its plan shard first, then block.0's ShardDone removes the
 * block's tensors; the stage's manifest has one block (the old blk.1, renumbered) and n_layers 1, the next stage (planned
 * at submit on the renumbered blocks, as JobIntake plans it) reads it, and the job's GGUF has one layer.
 */
class LayerRemovalStageTest {
    static final String RECIPE = """
            stages:
              - prune: { method: shortgpt, layers: 1 }
              - quantize: { method: rtn, type: F16 }
            evaluate: { suites: [tinystories] }
            """;

    @TempDir
    Path tmp;

    @Test
    void aStageThatRemovesABlockLeavesARenumberedSmallerModelForTheNextStage() throws Exception {
        CoordinatorFixture fx = new CoordinatorFixture(tmp);
        Recipe recipe = RecipeParser.parse(RECIPE).toProto();
        Map<String, Long> sizes = new LinkedHashMap<>();
        for (String n : fx.tensorNames) sizes.put(n, 1L);
        StagePlan removal = StagePlan.newBuilder().setStageIndex(0).addAllShards(fx.plan)
                .setPlanShard(ShardRef.newBuilder().setShardId("plan").setIndex(fx.plan.size()).addAllTensors(fx.tensorNames.stream().sorted().toList())).build();
        StagePlan after = StagePlan.newBuilder().setStageIndex(1)
                .addAllShards(ShardPlanner.perBlock(LayerCount.afterRemoval("test", sizes, 2, 1).keySet())).build();
        List<StageTask> planTask = tasks(fx.coordinator.submit(new SubmitPlan("job-l", "file:/models/tiny.bin", recipe, fx.source, fx.plan, List.of(removal, after))));
        assertEquals(List.of("plan"), planTask.stream().map(t -> t.getShard().getShardId()).toList());
        String planBlob = fx.store.blobs().put("blocks to remove: 0".getBytes(StandardCharsets.UTF_8));
        List<StageTask> shards = tasks(fx.coordinator.onShardEvent(event(planTask.getFirst(), ShardDone.newBuilder().setPlan(planBlob).addNotes("block 0 -> removed").build())));
        assertEquals(List.of("embed", "block.0", "block.1", "head"), shards.stream().map(t -> t.getShard().getShardId()).toList());

        List<StageTask> next = new ArrayList<>();
        for (StageTask t : shards) {
            ShardDone.Builder d = ShardDone.newBuilder().putStats("blocks_removed", 0);
            if (t.getShard().getShardId().equals("block.0")) d.addAllRemoved(t.getShard().getTensorsList()).putStats("blocks_removed", 1);
            next.addAll(tasks(fx.coordinator.onShardEvent(event(t, d.build()))));
        }
        Job job = fx.coordinator.job("job-l").orElseThrow();
        assertTrue(job.getStages(0).getCompleted(), job.toString());
        assertEquals(1.0, job.getStages(0).getStatsOrThrow("blocks_removed"));
        String removed = job.getStages(0).getOutputManifest();
        ModelManifest source = fx.store.manifest(fx.source), m = fx.store.manifest(removed);
        assertEquals(2, source.getConfig().getNLayers());
        assertEquals(1, m.getConfig().getNLayers());
        Map<String, TensorEntry> was = new LinkedHashMap<>();
        for (TensorEntry e : source.getTensorsList()) was.put(e.getName(), e);
        for (TensorEntry e : m.getTensorsList()) {
            int b = TensorNames.blockOf(e.getName());
            assertTrue(b < 1, e.getName() + " is past the new n_layers");
            // blk.0 is the source's blk.1: same bytes, new name
            TensorEntry old = was.get(b == 0 ? "blk.1" + e.getName().substring("blk.0".length()) : e.getName());
            assertEquals(old.toBuilder().setName(e.getName()).build(), e, e.getName());
        }
        assertEquals(source.getTensorsCount() - TensorNames.blockTensors(0).size(), m.getTensorsCount());

        // the F16 stage reads the renumbered model: every task's tensors are the manifest's
        assertEquals(List.of("embed", "block.0", "head"), next.stream().map(t -> t.getShard().getShardId()).toList());
        for (StageTask t : next) {
            assertEquals(removed, t.getInputManifest());
            fx.coordinator.onShardEvent(fx.answer(t));
        }
        for (int s = -1; s < 2; s++) fx.coordinator.onScored(score("job-l", s, ScoreMarkers.EVAL_DONE, "", 1));
        Job done = fx.coordinator.job("job-l").orElseThrow();
        assertEquals(JobState.SUCCEEDED, done.getState(), done.getError());
        assertFalse(done.getOutputPath().isEmpty());
        try (Arena arena = Arena.ofShared()) {
            LlamaModel written = ModelFiles.open(Path.of(done.getOutputPath()), arena);
            assertEquals(1, written.config().nLayers());
            assertEquals(fx.store.load(done.getStages(1).getOutputManifest()).tensors().keySet(), written.tensors().keySet());
        }
    }

    static ShardEvent event(StageTask t, ShardDone done) {
        return ShardEvent.newBuilder().setJobId(t.getJobId()).setStageIndex(t.getStage().getIndex())
                .setShardId(t.getShard().getShardId()).setInstance("test-1").setDone(done).build();
    }
}
