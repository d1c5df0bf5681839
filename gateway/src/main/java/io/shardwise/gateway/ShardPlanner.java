package io.shardwise.gateway;

import io.shardwise.core.model.TensorNames;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.TensorEntry;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Cuts a model into shards: {@code embed} (token_embd.weight), {@code block.N} (blk.N.*) in block
 * order, {@code head} (output_norm.weight and output.weight when not tied); a whole-model technique
 * gets one shard {@code model} with every tensor. A tensor that fits none of these goes to {@code head}.
 * A stage with a plan runs one more shard, {@code plan}, over every tensor before the others.
 */
public final class ShardPlanner {
    public static final String EMBED = "embed", HEAD = "head", MODEL = "model", PLAN = "plan", BLOCK_PREFIX = "block.";

    private ShardPlanner() {
    }

    public static List<ShardRef> perBlock(ModelManifest m) {
        return perBlock(m.getTensorsList().stream().map(TensorEntry::getName).toList());
    }

    public static List<ShardRef> perBlock(Collection<String> tensorNames) {
        List<String> embed = new ArrayList<>(), head = new ArrayList<>();
        Map<Integer, List<String>> blocks = new TreeMap<>();
        for (String n : tensorNames) {
            int b = TensorNames.blockOf(n);
            if (b >= 0) blocks.computeIfAbsent(b, k -> new ArrayList<>()).add(n);
            else if (n.equals(TensorNames.TOKEN_EMBD)) embed.add(n);
            else head.add(n);
        }
        List<ShardRef> out = new ArrayList<>();
        if (!embed.isEmpty()) out.add(ref(EMBED, out.size(), embed));
        for (var b : blocks.entrySet()) out.add(ref(BLOCK_PREFIX + b.getKey(), out.size(), b.getValue()));
        if (!head.isEmpty()) out.add(ref(HEAD, out.size(), head));
        return out;
    }

    public static List<ShardRef> wholeModel(Collection<String> tensorNames) {
        return List.of(ref(MODEL, 0, List.copyOf(tensorNames)));
    }

    /** Bytes of the shard's tensors, given every tensor's size. */
    public static long bytes(Map<String, Long> sizes, ShardRef shard) {
        return shard.getTensorsList().stream().mapToLong(n -> sizes.getOrDefault(n, 0L)).sum();
    }

    private static ShardRef ref(String id, int index, List<String> tensors) {
        return ShardRef.newBuilder().setShardId(id).setIndex(index).addAllTensors(tensors.stream().sorted().toList()).build();
    }
}
