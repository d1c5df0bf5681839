package io.shardwise.servicekit;

import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A test technique: scales every matrix of a shard by {@code scale}; enough to exercise the adapter. With {@code drop}
 * {@code shard} it removes the shard's tensors instead (as a layer-removal stage does), {@code stray} one outside it.
 */
@ApplicationScoped
public class EchoTechnique implements ShardTechnique {

    @Override
    public StageKind kind() {
        return StageKind.PRUNE;
    }

    @Override
    public String method() {
        return "echo";
    }

    @Override
    public Technique describe() {
        return Technique.newBuilder().setDescription("test: scales matrices")
                .addParams(ParamSpec.newBuilder().setName("scale").setDefaultValue("1"))
                .addParams(ParamSpec.newBuilder().setName("drop").setDefaultValue("none").addAllowed("none").addAllowed("shard").addAllowed("stray")).build();
    }

    @Override
    public ShardOutput apply(ShardInput input) {
        switch (input.param("drop", "none")) {
            case "shard" -> {
                return ShardOutput.removing(input.tensors().keySet(), Map.of("removed", (double) input.tensors().size()), List.of("dropped"));
            }
            case "stray" -> {
                return ShardOutput.removing(List.of("blk.999.ffn_up.weight"), Map.of(), List.of());
            }
            default -> { }
        }
        float scale = Float.parseFloat(input.param("scale", "1"));
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Tensor t : input.tensors().values()) {
            if (t.shape().length != 2) continue;
            float[] v = t.toFloats();
            for (int i = 0; i < v.length; i++) v[i] *= scale;
            out.put(t.name(), Tensor.ofFloats(t.name(), t.shape(), v));
        }
        input.progress().report(1.0, "scaled");
        return new ShardOutput(out, Map.of("matrices", (double) out.size()), List.of("scaled by " + scale));
    }
}
