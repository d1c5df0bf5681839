package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.model.TensorNames;
import io.shardwise.proto.v1.ParamSpec;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Submit-time check of a layer-removal stage (ShortGPT) against the model's block count. A layer-removal technique is one
 * with a plan parameter {@code layers} (by name, as {@link RankFit} finds low-rank ones): exactly one of {@code layers}
 * (a count) and {@code ratio} (a share, rounded to a count) must be given, and the count must leave at least one block.
 * The stages after it are planned on the model it leaves: which blocks go is decided when it runs, but the renumbered
 * model always has blocks 0 .. n-k-1, each with the same tensors when every block has the same tensor names.
 */
final class LayerCount {
    static final String LAYERS = "layers", RATIO = "ratio";

    private LayerCount() {
    }

    /** The number of blocks the stage removes (0 for a stage of another kind), or refused naming the field. */
    static int check(String at, Map<String, String> given, Map<String, ParamSpec> specs, int blocks) throws JobRejected {
        ParamSpec layers = specs.get(LAYERS);
        if (layers == null || !layers.getNeedsPlan()) return 0;
        boolean byCount = given.containsKey(LAYERS), byRatio = given.containsKey(RATIO);
        if (byCount && byRatio) throw refused(at + "." + RATIO + ": give " + LAYERS + " or " + RATIO + ", not both");
        if (!byCount && !byRatio) throw refused(at + "." + LAYERS + ": missing (the number of blocks to remove; or give " + RATIO + ")");
        String param = byCount ? LAYERS : RATIO, field = at + "." + param, value = given.get(param).trim();
        long removed;
        if (byCount) {
            try {
                removed = Long.parseLong(value);
            } catch (NumberFormatException e) {
                throw refused(field + ": '" + value + "' is not a whole number");
            }
        } else {
            try {
                removed = Math.round(Double.parseDouble(value) * blocks);
            } catch (NumberFormatException e) {
                throw refused(field + ": '" + value + "' is not a number");
            }
        }
        if (removed >= blocks) {
            throw refused(field + ": " + value + (byCount ? "" : " (" + removed + " blocks)") + " would remove every block of the model's "
                    + blocks + " (at most " + (blocks - 1) + ")");
        }
        return (int) Math.max(0, removed);
    }

    /**
     * Tensor sizes of the model a stage leaves that removes {@code removed} of its {@code blocks}: those of blocks
     * 0 .. blocks-removed-1 and the rest; refused when the blocks differ in tensor names (the survivors' names unknown).
     */
    static Map<String, Long> afterRemoval(String at, Map<String, Long> sizes, int blocks, int removed) throws JobRejected {
        Map<Integer, java.util.Set<String>> suffixes = new java.util.TreeMap<>();
        for (String n : sizes.keySet()) {
            int b = TensorNames.blockOf(n);
            if (b >= 0) suffixes.computeIfAbsent(b, k -> new java.util.TreeSet<>()).add(n.substring(("blk." + b).length()));
        }
        for (var e : suffixes.entrySet()) {
            if (!e.getValue().equals(suffixes.get(0))) {
                throw new JobRejected(Status.Code.FAILED_PRECONDITION, at + ": blocks 0 and " + e.getKey() + " differ in tensors, so the stages after"
                        + " this layer removal cannot be planned before it runs (every block needs the same tensor names)");
            }
        }
        Map<String, Long> out = new LinkedHashMap<>();
        for (var e : sizes.entrySet()) if (TensorNames.blockOf(e.getKey()) < blocks - removed) out.put(e.getKey(), e.getValue());
        return out;
    }

    private static JobRejected refused(String message) {
        return new JobRejected(Status.Code.INVALID_ARGUMENT, message);
    }
}
