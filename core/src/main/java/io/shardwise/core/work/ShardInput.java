package io.shardwise.core.work;

import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageSpec;

import java.lang.foreign.Arena;
import java.util.Map;

/**
 * What a technique gets for one shard: the stage, the shard's tensors (mapped, read-only) from the
 * stage's input model, access to the input and source manifests (e.g. a teacher model), and an
 * {@code arena} for the shard's output tensors: it stays open until the runner has stored them, then
 * it is closed (unmapping the inputs too), so a service holds one shard's memory at a time.
 * {@code activations}: in sequential calibration, the blob with this block's input activations ("" = compute
 * them from the input model); {@code plan}: the blob the stage's plan shard made ("" = none).
 */
public record ShardInput(String jobId, StageSpec stage, ShardRef shard, Map<String, Tensor> tensors,
                         ModelManifest inputManifest, String inputDigest, ModelManifest sourceManifest,
                         String sourceDigest, ModelStore store, Progress progress, Arena arena,
                         String activations, String plan) {

    public ShardInput {
        activations = activations == null ? "" : activations;
        plan = plan == null ? "" : plan;
    }

    /** Without sequential-calibration activations or a stage plan (see {@code StageTask.activations}, {@code StageTask.plan}). */
    public ShardInput(String jobId, StageSpec stage, ShardRef shard, Map<String, Tensor> tensors,
                      ModelManifest inputManifest, String inputDigest, ModelManifest sourceManifest,
                      String sourceDigest, ModelStore store, Progress progress, Arena arena) {
        this(jobId, stage, shard, tensors, inputManifest, inputDigest, sourceManifest, sourceDigest, store, progress, arena, "", "");
    }

    /** Reports progress inside a shard (fraction 0..1). */
    @FunctionalInterface
    public interface Progress {
        void report(double fraction, String message);

        Progress NONE = (f, m) -> { };
    }

    /** Without an output arena of the caller's: outputs live in memory the garbage collector frees (tests, one-off runs). */
    public ShardInput(String jobId, StageSpec stage, ShardRef shard, Map<String, Tensor> tensors,
                      ModelManifest inputManifest, String inputDigest, ModelManifest sourceManifest,
                      String sourceDigest, ModelStore store, Progress progress) {
        this(jobId, stage, shard, tensors, inputManifest, inputDigest, sourceManifest, sourceDigest, store, progress, Arena.ofAuto(), "", "");
    }

    public String param(String name, String defaultValue) {
        return stage.getParamsOrDefault(name, defaultValue);
    }
}
