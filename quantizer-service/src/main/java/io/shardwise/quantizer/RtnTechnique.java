package io.shardwise.quantizer;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** Stage method {@code rtn}: {@link Rtn} on every matrix of a shard; 1-D tensors (norms) and ignored ones stay as they are. */
@ApplicationScoped
public class RtnTechnique implements ShardTechnique {
    static final List<TensorType> TYPES = List.of(GgmlType.Q8_0, GgmlType.Q4_0, ChannelIntType.I8_ASYM_CH, ChannelIntType.I4_ASYM_CH);

    @Override
    public StageKind kind() {
        return StageKind.QUANTIZE;
    }

    @Override
    public String method() {
        return "rtn";
    }

    @Override
    public Technique describe() {
        ParamSpec.Builder type = ParamSpec.newBuilder().setName("type").setDefaultValue("Q8_0")
                .setDescription("target type: ggml blocks (Q8_0, Q4_0; rows that do not fit a block fall back to F16) or per-channel asymmetric int (I8_ASYM_CH, I4_ASYM_CH)");
        TYPES.forEach(t -> type.addAllowed(t.typeName()));
        return Technique.newBuilder().setMethod(method()).setKind(kind())
                .setDescription("round-to-nearest weight quantization (RTN, the data-free baseline), ggml block formats or per-channel int")
                .addParams(type)
                .addParams(ParamSpec.newBuilder().setName("ignore").setDefaultValue("")
                        .setDescription("comma-separated regexes; a tensor whose name contains a match is kept as it is"))
                .build();
    }

    @Override
    public ShardOutput apply(ShardInput input) {
        TensorType target = parseType(input.param("type", "Q8_0"));
        List<Pattern> ignore = parseIgnore(input.param("ignore", ""));
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        int fallbacks = 0;
        int ignored = 0;
        long elements = 0;
        for (Tensor t : input.tensors().values()) {
            if (t.shape().length < 2) continue; // norms stay F32, as in llama.cpp
            if (ignore.stream().anyMatch(p -> p.matcher(t.name()).find())) {
                ignored++;
                notes.add(t.name() + ": ignored, kept as " + t.type().typeName());
                continue;
            }
            Rtn.Quantized q = Rtn.quantize(t, target, input.arena());
            q.fallback().ifPresent(notes::add);
            if (q.fallback().isPresent()) fallbacks++;
            out.put(t.name(), q.tensor());
            elements += t.elements();
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("quantized_tensors", (double) (out.size() - fallbacks));
        stats.put("fallback_tensors", (double) fallbacks);
        stats.put("ignored_tensors", (double) ignored);
        stats.put("elements", (double) elements);
        return new ShardOutput(out, stats, notes);
    }

    static TensorType parseType(String name) {
        for (TensorType t : TYPES) if (t.typeName().equalsIgnoreCase(name.trim())) return t;
        throw new IllegalArgumentException("rtn: params.type '" + name + "' is not one of " + TYPES.stream().map(TensorType::typeName).toList());
    }

    static List<Pattern> parseIgnore(String spec) {
        List<Pattern> out = new ArrayList<>();
        for (String s : spec.split(",")) {
            if (s.isBlank()) continue;
            try {
                out.add(Pattern.compile(s.trim()));
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException("rtn: params.ignore entry '" + s.trim() + "' is not a regex: " + e.getDescription());
            }
        }
        return out;
    }
}
