package io.shardwise.core.work;

import io.shardwise.core.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * What a technique made of a shard: the tensors it replaced (same names as the input's), stats to
 * aggregate per stage (e.g. {@code zeros}, {@code elements}, {@code fallback_tensors}) and notes for people;
 * in sequential calibration the blob of the block's output activations, and for a plan shard the plan's blob.
 */
public record ShardOutput(Map<String, Tensor> tensors, Map<String, Double> stats, List<String> notes,
                          String activations, String plan) {

    public ShardOutput {
        activations = activations == null ? "" : activations;
        plan = plan == null ? "" : plan;
    }

    public ShardOutput(Map<String, Tensor> tensors, Map<String, Double> stats, List<String> notes) {
        this(tensors, stats, notes, "", "");
    }
}
