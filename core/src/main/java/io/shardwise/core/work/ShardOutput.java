package io.shardwise.core.work;

import io.shardwise.core.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * What a technique made of a shard: the tensors it replaced (same names as the input's), stats to
 * aggregate per stage (e.g. {@code zeros}, {@code elements}, {@code fallback_tensors}) and notes for people.
 */
public record ShardOutput(Map<String, Tensor> tensors, Map<String, Double> stats, List<String> notes) {
}
