package io.shardwise.core.work;

import io.shardwise.proto.v1.StageKind;

/** Kafka topic names (DESIGN.md, data flow). Payloads are the protobuf messages of proto/shardwise/v1/events.proto. */
public enum Topics {
    PRUNE_TASKS("shardwise.prune.tasks"),
    DISTILL_TASKS("shardwise.distill.tasks"),
    QUANTIZE_TASKS("shardwise.quantize.tasks"),
    /** ShardEvent, key = job id. */
    SHARD_EVENTS("shardwise.shard.events"),
    /** EvalTask. */
    EVAL_TASKS("shardwise.eval.tasks"),
    /** ModelScored, key = job id. */
    SCORES("shardwise.scores"),
    /** JobEvent, key = job id; the gateway's replayable job log. */
    JOB_EVENTS("shardwise.job.events"),
    /** Capabilities, key = service name; compacted. */
    CAPABILITIES("shardwise.capabilities"),
    /** JobControl (cancellations), read by every instance. */
    CONTROL("shardwise.control");

    public final String topic;

    Topics(String topic) {
        this.topic = topic;
    }

    /** Where tasks that keep failing (or cannot be parsed) go, with the error in a header. */
    public String dlq() {
        return topic + ".dlq";
    }

    public static Topics tasksFor(StageKind kind) {
        return switch (kind) {
            case PRUNE -> PRUNE_TASKS;
            case DISTILL -> DISTILL_TASKS;
            case QUANTIZE -> QUANTIZE_TASKS;
            default -> throw new IllegalArgumentException("no task topic for stage kind " + kind);
        };
    }
}
