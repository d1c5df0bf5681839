package io.shardwise.quantizer;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Stage method {@code smoothquant}: {@link SmoothQuant} on a shard's linears from calibration maxima, then every
 * linear to I8_SYM_CH (W8A8; the runtime dots it int8 x int8). The smoothed norms are outputs too.
 */
@ApplicationScoped
public class SmoothQuantTechnique implements ShardTechnique {
    static final String METHOD = "smoothquant", ALPHA = "alpha";
    static final double DEFAULT_ALPHA = 0.5;
    private final CalibrationTexts texts;

    @Inject
    public SmoothQuantTechnique(CalibrationTexts texts) {
        this.texts = texts;
    }

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
        return Technique.newBuilder().setMethod(METHOD).setKind(kind())
                .setDescription("SmoothQuant W8A8 (Xiao et al.): activation outliers migrated into the weights with s_j = max|X_j|^alpha / max|W_j|^(1-alpha), "
                        + "then per-channel int8 weights dotted int8 x int8 with per-token int8 activations")
                .addParams(ParamSpec.newBuilder().setName(ALPHA).setDefaultValue(Double.toString(DEFAULT_ALPHA)).setMin(0).setMax(1)
                        .setDescription("migration strength: 0 leaves activations as they are, 1 moves all of their range into the weights"))
                .addAllParams(CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT))
                .addAllParams(TensorRules.paramSpecs("", List.of("F16", "F32")))
                .build();
    }

    @Override
    public ShardOutput apply(ShardInput input) throws Exception {
        Map<String, String> params = input.stage().getParamsMap();
        checkKnown(METHOD, describe(), params);
        double alpha = unitInterval(METHOD, ALPHA, params.getOrDefault(ALPHA, Double.toString(DEFAULT_ALPHA)));
        TensorRules rules = TensorRules.parse(METHOD, params);
        for (TensorRules.Override o : rules.overrides()) {
            for (String k : o.params().keySet()) {
                if (!k.equals(ALPHA)) throw new IllegalArgumentException(METHOD + ": params.overrides." + o.pattern() + " sets " + k + "; only " + ALPHA + " can be overridden");
            }
            unitInterval(METHOD, "overrides." + o.pattern() + "." + ALPHA, o.params().getOrDefault(ALPHA, "0.5"));
        }
        CalibrationSpec spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        if (input.tensors().keySet().stream().noneMatch(BlockCalibration::isLinear)) return new ShardOutput(Map.of(), Map.of(), List.of());
        BlockCalibration cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
        Map<String, float[]> xMax = SmoothQuant.inputMaxima(cal);
        Map<String, Tensor> smoothed = SmoothQuant.smooth(input.tensors(), xMax,
                name -> Double.parseDouble(rules.paramsFor(name, Map.of(ALPHA, Double.toString(alpha))).get(ALPHA).trim()));
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        int quantized = 0, ignored = 0;
        for (Tensor t : input.tensors().values()) {
            Tensor src = smoothed.getOrDefault(t.name(), t);
            if (!BlockCalibration.isLinear(t.name()) || t.shape().length < 2) {
                if (src != t) out.put(t.name(), src); // a smoothed norm
            } else if (rules.ignored(t.name())) {
                ignored++;
                notes.add(t.name() + ": ignored, kept in float" + (src != t ? " (smoothed)" : ""));
                if (src != t) out.put(t.name(), src);
            } else {
                out.put(t.name(), Rtn.quantize(src, RowInt8Type.I8_SYM_CH, input.arena()).tensor());
                quantized++;
            }
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("quantized_tensors", (double) quantized);
        stats.put("ignored_tensors", (double) ignored);
        stats.put("smoothed_tensors", (double) smoothed.size());
        String next = spec.mode() == CalibrationMode.SEQUENTIAL ? cal.storeOutputs(out) : "";
        return new ShardOutput(out, stats, notes, next, "");
    }

    /** A number in [0, 1], or an error naming the parameter. */
    static double unitInterval(String method, String param, String value) {
        double v;
        try {
            v = Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(method + ": params." + param + " '" + value + "' is not a number");
        }
        if (!(v >= 0 && v <= 1)) throw new IllegalArgumentException(method + ": params." + param + " " + value + " is outside [0, 1]");
        return v;
    }

    /** Refuses a parameter the technique does not list (the gateway does too, at submit). */
    static void checkKnown(String method, Technique t, Map<String, String> params) {
        Set<String> known = t.getParamsList().stream().map(ParamSpec::getName).collect(Collectors.toCollection(java.util.TreeSet::new));
        for (String p : params.keySet()) {
            if (!known.contains(p)) throw new IllegalArgumentException(method + ": unknown parameter '" + p + "' (known: " + String.join(", ", known) + ")");
        }
    }
}
