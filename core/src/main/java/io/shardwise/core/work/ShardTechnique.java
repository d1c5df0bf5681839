package io.shardwise.core.work;

import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;

/**
 * One compression method as a service runs it on one shard: a thin wrapper that parses the stage
 * parameters and calls the algorithm class (named after its paper). Its {@link #describe()} is what
 * the service publishes as capabilities and what the gateway validates recipes against.
 */
public interface ShardTechnique {

    StageKind kind();

    String method();

    /** Method, description and parameter specs (names, defaults, ranges, allowed values). */
    Technique describe();

    /** Whether this technique needs the whole model in one task (e.g. logit distillation) instead of one task per block. */
    default boolean wholeModel() {
        return false;
    }

    ShardOutput apply(ShardInput input) throws Exception;
}
