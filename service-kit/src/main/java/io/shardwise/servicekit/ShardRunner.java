package io.shardwise.servicekit;

import io.shardwise.core.blob.Sha256;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.StageTask;
import io.shardwise.proto.v1.TensorEntry;

import java.lang.foreign.Arena;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Runs one task: maps the shard's tensors, calls the technique, stores what it made, and says so in a ShardDone. */
final class ShardRunner {
    private final ModelStore store;
    private final String instance;

    ShardRunner(ModelStore store, String instance) {
        this.store = store;
        this.instance = instance;
    }

    /** Why a parsed task cannot be run at all (a poisoned message), or null when it is well-formed. */
    static String malformed(StageTask t) {
        if (t.getJobId().isBlank()) return "StageTask.job_id is empty";
        if (!t.hasStage()) return "StageTask.stage is missing";
        if (t.getStage().getMethod().isBlank()) return "StageTask.stage.method is empty";
        if (!t.hasShard() || t.getShard().getShardId().isBlank()) return "StageTask.shard.shard_id is empty";
        if (t.getShard().getTensorsCount() == 0) return "StageTask.shard.tensors is empty";
        try {
            Sha256.requireValid(t.getInputManifest());
            if (!t.getSourceManifest().isEmpty()) Sha256.requireValid(t.getSourceManifest());
        } catch (IllegalArgumentException e) {
            return "StageTask.input_manifest/source_manifest: " + e.getMessage();
        }
        try {
            if (!t.getActivations().isEmpty()) Sha256.requireValid(t.getActivations());
            if (!t.getPlan().isEmpty()) Sha256.requireValid(t.getPlan());
        } catch (IllegalArgumentException e) {
            return "StageTask.activations/plan: " + e.getMessage();
        }
        return null;
    }

    ShardEvent run(StageTask task, ShardTechnique technique, ShardInput.Progress progress) throws Exception {
        long start = System.nanoTime();
        ModelManifest input = store.manifest(task.getInputManifest());
        String sourceDigest = task.getSourceManifest();
        ModelManifest source = sourceDigest.isEmpty() ? null
                : sourceDigest.equals(task.getInputManifest()) ? input : store.manifest(sourceDigest);
        List<TensorEntry> entries;
        ShardOutput out;
        // one arena per task: the shard's inputs are mapped and its outputs allocated in it, and all of it is
        // released when the outputs are stored, so memory never holds more than this shard
        try (Arena arena = Arena.ofShared()) {
            Map<String, Tensor> tensors = store.tensors(input, task.getShard().getTensorsList(), arena);
            ShardInput in = new ShardInput(task.getJobId(), task.getStage(), task.getShard(), tensors, input,
                    task.getInputManifest(), source, sourceDigest, store, progress, arena, task.getActivations(), task.getPlan());
            out = technique.apply(in);
            Set<String> allowed = new HashSet<>(task.getShard().getTensorsList());
            for (String name : out.tensors().keySet()) {
                if (!allowed.contains(name)) throw new IllegalStateException(technique.method() + " returned tensor " + name + " which is not in shard " + task.getShard().getShardId());
            }
            for (String name : out.removed()) {
                if (!allowed.contains(name)) throw new IllegalStateException(technique.method() + " removed tensor " + name + " which is not in shard " + task.getShard().getShardId());
            }
            entries = out.tensors().isEmpty() ? List.of() : store.storeTensors(out.tensors().values());
        }
        ShardDone done = ShardDone.newBuilder().addAllTensors(entries).putAllStats(out.stats()).addAllNotes(out.notes())
                .setMillis((System.nanoTime() - start) / 1_000_000).setActivations(out.activations()).setPlan(out.plan()).addAllRemoved(out.removed()).build();
        return ShardEvent.newBuilder().setJobId(task.getJobId()).setStageIndex(task.getStage().getIndex())
                .setShardId(task.getShard().getShardId()).setInstance(instance).setDone(done).build();
    }
}
