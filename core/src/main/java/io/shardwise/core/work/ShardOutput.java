package io.shardwise.core.work;

import io.shardwise.core.tensor.Tensor;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What a technique made of a shard: the tensors it replaced (same names as the input's), stats to
 * aggregate per stage (e.g. {@code zeros}, {@code elements}, {@code fallback_tensors}) and notes for people;
 * in sequential calibration the blob of the block's output activations, and for a plan shard the plan's blob.
 * {@code removed}: tensors of the shard it dropped from the model (whole blocks only, e.g. ShortGPT; the stage's output
 * manifest renumbers the blocks above and lowers n_layers), sorted; a name is either replaced or removed, never both.
 */
public record ShardOutput(Map<String, Tensor> tensors, Map<String, Double> stats, List<String> notes,
                          String activations, String plan, Set<String> removed) {

    public ShardOutput {
        activations = activations == null ? "" : activations;
        plan = plan == null ? "" : plan;
        removed = removed == null ? Set.of() : Collections.unmodifiableSortedSet(new TreeSet<>(removed));
        for (String n : removed) {
            if (tensors.containsKey(n)) throw new IllegalArgumentException("shard output both replaces and removes tensor " + n);
        }
    }

    public ShardOutput(Map<String, Tensor> tensors, Map<String, Double> stats, List<String> notes, String activations, String plan) {
        this(tensors, stats, notes, activations, plan, Set.of());
    }

    public ShardOutput(Map<String, Tensor> tensors, Map<String, Double> stats, List<String> notes) {
        this(tensors, stats, notes, "", "", Set.of());
    }

    /** A shard that drops the tensors {@code names} and makes none. */
    public static ShardOutput removing(Collection<String> names, Map<String, Double> stats, List<String> notes) {
        return new ShardOutput(Map.of(), stats, notes, "", "", new TreeSet<>(names));
    }
}
