package io.shardwise.quantizer;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
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

/**
 * Stage method {@code llm_int8}: {@link LlmInt8} on every linear of a shard, the outlier input columns from
 * calibration maxima above {@code threshold}; matrices without outliers become plain I8_SYM_CH.
 */
@ApplicationScoped
public class LlmInt8Technique implements ShardTechnique {
    static final String METHOD = "llm_int8", THRESHOLD = "threshold";
    static final double DEFAULT_THRESHOLD = 6.0;
    private final CalibrationTexts texts;

    @Inject
    public LlmInt8Technique(CalibrationTexts texts) {
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
                .setDescription("LLM.int8() (Dettmers et al.): int8 x int8 matmul with the input columns whose calibration activations exceed the threshold kept in fp16")
                .addParams(ParamSpec.newBuilder().setName(THRESHOLD).setDefaultValue(Double.toString(DEFAULT_THRESHOLD)).setMin(0)
                        .setDescription("an input column is an outlier when its calibration max |x| exceeds this (the paper's 6.0)"))
                .addAllParams(CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT))
                .addAllParams(TensorRules.paramSpecs("", List.of("F16", "F32")))
                .build();
    }

    @Override
    public ShardOutput apply(ShardInput input) throws Exception {
        Map<String, String> params = input.stage().getParamsMap();
        SmoothQuantTechnique.checkKnown(METHOD, describe(), params);
        double threshold = threshold(params.getOrDefault(THRESHOLD, Double.toString(DEFAULT_THRESHOLD)));
        TensorRules rules = TensorRules.parse(METHOD, params);
        for (TensorRules.Override o : rules.overrides()) {
            for (String k : o.params().keySet()) {
                if (!k.equals(THRESHOLD)) throw new IllegalArgumentException(METHOD + ": params.overrides." + o.pattern() + " sets " + k + "; only " + THRESHOLD + " can be overridden");
            }
            threshold(o.params().get(THRESHOLD));
        }
        CalibrationSpec spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        if (input.tensors().keySet().stream().noneMatch(BlockCalibration::isLinear)) return new ShardOutput(Map.of(), Map.of(), List.of());
        BlockCalibration cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
        Map<String, float[]> xMax = SmoothQuant.inputMaxima(cal);
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        int mixed = 0, plain = 0, ignored = 0;
        long outlierCols = 0;
        for (Tensor t : input.tensors().values()) {
            if (!BlockCalibration.isLinear(t.name()) || t.shape().length < 2) continue;
            if (rules.ignored(t.name())) {
                ignored++;
                notes.add(t.name() + ": ignored, kept as " + t.type().typeName());
                continue;
            }
            float[] m = xMax.get(t.name());
            double th = threshold(rules.paramsFor(t.name(), Map.of(THRESHOLD, Double.toString(threshold))).get(THRESHOLD));
            int[] cols = m == null ? new int[0] : LlmInt8.outlierColumns(m, th);
            out.put(t.name(), LlmInt8.quantize(t, cols, input.arena()));
            if (cols.length > 0) {
                mixed++;
                outlierCols += cols.length;
                notes.add(t.name() + ": " + cols.length + " of " + t.cols() + " input columns above " + th + " kept in fp16");
            } else {
                plain++;
            }
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("quantized_tensors", (double) (mixed + plain));
        stats.put("mixed_tensors", (double) mixed);
        stats.put("outlier_columns", (double) outlierCols);
        stats.put("ignored_tensors", (double) ignored);
        String next = spec.mode() == CalibrationMode.SEQUENTIAL ? cal.storeOutputs(out) : "";
        return new ShardOutput(out, stats, notes, next, "");
    }

    static double threshold(String value) {
        double v;
        try {
            v = Double.parseDouble(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params." + THRESHOLD + " '" + value + "' is not a number");
        }
        if (!(v > 0) || Double.isInfinite(v)) throw new IllegalArgumentException(METHOD + ": params." + THRESHOLD + " " + value + " must be a finite number > 0");
        return v;
    }
}
