package io.shardwise.core.work;

import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageSpec;

import java.util.Map;

/**
 * What a technique gets for one shard: the stage, the shard's tensors (mapped, read-only) from the
 * stage's input model, and access to the input and source manifests (e.g. a teacher model).
 */
public record ShardInput(String jobId, StageSpec stage, ShardRef shard, Map<String, Tensor> tensors,
                         ModelManifest inputManifest, String inputDigest, ModelManifest sourceManifest,
                         String sourceDigest, ModelStore store, Progress progress) {

    /** Reports progress inside a shard (fraction 0..1). */
    @FunctionalInterface
    public interface Progress {
        void report(double fraction, String message);

        Progress NONE = (f, m) -> { };
    }

    public String param(String name, String defaultValue) {
        return stage.getParamsOrDefault(name, defaultValue);
    }
}
