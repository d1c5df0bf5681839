package io.shardwise.quantizer;

import io.shardwise.core.quant.Fp8Codec;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Stage method {@code fp8}: {@link Fp8} on every matrix of a shard, {@code format} e4m3 or e5m2, {@code scale}
 * per_tensor (one amax over the whole tensor, which a shard task always holds) or per_channel; 1-D tensors (norms)
 * and ignored ones stay as they are; overrides may set format and scale per tensor. Data-free.
 */
@ApplicationScoped
public class Fp8Technique implements ShardTechnique {
    static final String METHOD = "fp8", FORMAT = "format", SCALE = "scale";
    private static final Set<String> OVERRIDABLE = Set.of(FORMAT, SCALE);

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
        ParamSpec.Builder format = ParamSpec.newBuilder().setName(FORMAT).setDefaultValue("e4m3")
                .setDescription("e4m3 (bias 7, max 448, more precision) or e5m2 (bias 15, max 57344, more range); round to nearest even, saturating");
        for (Fp8Codec.Format f : Fp8Codec.Format.values()) format.addAllowed(f.name().toLowerCase(Locale.ROOT));
        ParamSpec.Builder scale = ParamSpec.newBuilder().setName(SCALE).setDefaultValue("per_channel")
                .setDescription("per_tensor: one scale amax/fp8_max for the tensor; per_channel: one per output channel (row)");
        for (Fp8.Scaling s : Fp8.Scaling.values()) scale.addAllowed(s.paramName());
        Technique.Builder b = Technique.newBuilder().setMethod(METHOD).setKind(kind())
                .setDescription("FP8 weights (E4M3 / E5M2) with a per-tensor or per-channel float32 scale; data-free round-to-nearest-even")
                .addParams(format).addParams(scale);
        TensorRules.paramSpecs("", List.of("F16")).forEach(b::addParams);
        return b.build();
    }

    /** A tensor's format and scaling. */
    record Choice(Fp8Codec.Format format, Fp8.Scaling scaling) {
        static Choice of(Map<String, String> params, String where) {
            return new Choice(parse(Fp8Codec.Format.values(), params.getOrDefault(FORMAT, "e4m3"), where + FORMAT),
                    parse(Fp8.Scaling.values(), params.getOrDefault(SCALE, "per_channel"), where + SCALE));
        }
    }

    @Override
    public ShardOutput apply(ShardInput input) {
        Map<String, String> params = input.stage().getParamsMap();
        TensorRules rules = TensorRules.parse(METHOD, params);
        Choice stage = Choice.of(params, "params.");
        for (TensorRules.Override o : rules.overrides()) {
            String where = "params.overrides." + o.pattern().pattern() + ".";
            for (String k : o.params().keySet()) {
                if (!OVERRIDABLE.contains(k)) throw new IllegalArgumentException(METHOD + ": " + where + k + " is not a parameter fp8 can override per tensor (known: format, scale)");
            }
            Map<String, String> merged = new LinkedHashMap<>(params);
            merged.putAll(o.params());
            Choice.of(merged, where); // checked now, not when the first matching tensor comes
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
            Choice c = Choice.of(rules.paramsFor(t.name(), params), "params.");
            if (!c.equals(stage)) notes.add(t.name() + ": override -> " + Fp8.type(c.format(), c.scaling()).typeName());
            Tensor q = Fp8.quantize(t, c.format(), c.scaling(), input.arena());
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

    private static <E extends Enum<E>> E parse(E[] values, String value, String param) {
        for (E e : values) if (e.name().equalsIgnoreCase(value.trim())) return e;
        throw new IllegalArgumentException(METHOD + ": " + param + " '" + value + "' is not one of "
                + Arrays.stream(values).map(e -> e.name().toLowerCase(Locale.ROOT)).toList());
    }
}
