package io.shardwise.quantizer;

import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage method {@code nf4}: {@link QLoraNf4} on every matrix of a shard (blocks of 64, double-quantized absmax);
 * 1-D tensors (norms) and ignored ones stay as they are. Data-free. NF4 takes any row length, so {@code fallback}
 * is accepted (the rules every quantize method shares) but never needed; it has no parameter an override could set.
 */
@ApplicationScoped
public class Nf4Technique implements ShardTechnique {
    static final String METHOD = "nf4";

    @Override
    public StageKind kind() {
        return StageKind.QUANTIZE;
    }

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    public Technique describe() {
        Technique.Builder b = Technique.newBuilder().setMethod(METHOD).setKind(kind())
                .setDescription("QLoRA NF4 (4-bit NormalFloat, blocks of 64 scaled by absmax, absmax double-quantized to int8 per row);"
                        + " data-free round-to-nearest onto the normal-quantile grid, any row length");
        TensorRules.paramSpecs("", List.of("F16")).forEach(b::addParams);
        return b.build();
    }

    @Override
    public ShardOutput apply(ShardInput input) {
        TensorRules rules = TensorRules.parse(METHOD, input.stage().getParamsMap());
        for (TensorRules.Override o : rules.overrides()) {
            for (String k : o.params().keySet()) {
                throw new IllegalArgumentException(METHOD + ": params.overrides." + o.pattern().pattern() + "." + k + " is not a parameter nf4 can override per tensor (it has none)");
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        int ignored = 0;
        long elements = 0, bytes = 0;
        for (Tensor t : input.tensors().values()) {
            if (t.shape().length < 2) continue; // norms stay F32, as in llama.cpp
            if (rules.ignored(t.name())) {
                ignored++;
                notes.add(t.name() + ": ignored, kept as " + t.type().typeName());
                continue;
            }
            Tensor q = QLoraNf4.quantize(t, input.arena());
            out.put(t.name(), q);
            elements += t.elements();
            bytes += q.data().byteSize();
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("quantized_tensors", (double) out.size());
        stats.put("ignored_tensors", (double) ignored);
        stats.put("elements", (double) elements);
        stats.put("bits_per_weight", elements == 0 ? 0 : bytes * 8.0 / elements);
        return new ShardOutput(out, stats, notes);
    }
}
