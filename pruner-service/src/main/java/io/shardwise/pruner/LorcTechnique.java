package io.shardwise.pruner;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.work.ShardInput;
import io.shardwise.proto.v1.ParamSpec;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage method {@code lorc}: {@link Lorc} on every block matrix: the weight quantized to {@code type} (the
 * {@code fallback} type where its blocks do not divide the rows) plus low-rank factors of the quantization error.
 * The embedding and the head stay as they are.
 */
@ApplicationScoped
public class LorcTechnique extends LowRankTechnique {
    static final String METHOD = "lorc", TYPE = "type", FALLBACK = "fallback";
    static final List<TensorType> TYPES = List.of(GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
            ChannelIntType.I4_ASYM_CH, ChannelIntType.I8_ASYM_CH);
    static final List<TensorType> FALLBACKS = List.of(ChannelIntType.I4_ASYM_CH, ChannelIntType.I8_ASYM_CH);
    /** ZeroQuant-V2 compensates with small ranks: the factors add a tenth of the layer's parameters by default. */
    static final double DEFAULT_BUDGET = 0.1;

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    String description() {
        return "LoRC (ZeroQuant-V2, Yao et al.): every block matrix quantized round-to-nearest, plus rank-r factors (lora_a, lora_b) of the quantization error W - Q(W)";
    }

    @Override
    double defaultBudget() {
        return DEFAULT_BUDGET;
    }

    @Override
    boolean replacesWeight() {
        return false;
    }

    @Override
    List<ParamSpec> ownParams() {
        ParamSpec.Builder type = ParamSpec.newBuilder().setName(TYPE).setDefaultValue(GgmlType.Q4_0.typeName())
                .setDescription("the weight's quantized type: ggml blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) or per-channel asymmetric int (I4_ASYM_CH, I8_ASYM_CH)");
        for (TensorType t : TYPES) type.addAllowed(t.typeName()).putRowMultiple(t.typeName(), rowMultiple(t));
        ParamSpec.Builder fb = ParamSpec.newBuilder().setName(FALLBACK).setDefaultValue(ChannelIntType.I4_ASYM_CH.typeName())
                .setDescription("the type of a weight whose rows the blocks of type do not divide (e.g. a 172-wide ffn_down under Q4_0)");
        FALLBACKS.forEach(t -> fb.addAllowed(t.typeName()));
        return List.of(type.build(), fb.build());
    }

    @Override
    Factorized factorize(ShardInput input) {
        Map<String, String> params = input.stage().getParamsMap();
        RankSelection rule = rule(params);
        TensorType factorType = factorType(params);
        TensorType type = parse(TYPE, params.getOrDefault(TYPE, GgmlType.Q4_0.typeName()), TYPES);
        TensorType fallback = parse(FALLBACK, params.getOrDefault(FALLBACK, ChannelIntType.I4_ASYM_CH.typeName()), FALLBACKS);
        List<Tensor> matrices = matrices(input, rule);
        Map<String, Layer> layers = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        double quantError = 0, compensated = 0;
        for (Tensor t : matrices) {
            input.progress().report((double) layers.size() / matrices.size(), "lorc " + t.name());
            TensorType ty = rowMultiple(type) > 1 && t.cols() % rowMultiple(type) != 0 ? fallback : type;
            if (ty != type) notes.add(t.name() + ": row " + t.cols() + " % " + rowMultiple(type) + " != 0 -> fallback " + ty.typeName());
            Lorc.Result r = Lorc.compensate(t.name(), t.toFloats(), t.rows(), t.cols(), ty, rule);
            layers.put(t.name(), new Layer(r.factors(), r.quantized()));
            quantError += r.quantError();
            compensated += r.compensatedError();
        }
        Factorized f = assemble(matrices, layers, factorType);
        f.notes().addAll(0, notes);
        f.stats().put("quant_error", quantError);
        f.stats().put("compensated_error", compensated);
        return f;
    }

    private static int rowMultiple(TensorType t) {
        return t instanceof GgmlType g && g.isQuantized() ? g.blockSize : 1;
    }

    private static TensorType parse(String param, String name, List<TensorType> among) {
        for (TensorType t : among) if (t.typeName().equalsIgnoreCase(name.trim())) return t;
        throw new IllegalArgumentException(METHOD + ": params." + param + " '" + name + "' is not one of " + among.stream().map(TensorType::typeName).toList());
    }
}
