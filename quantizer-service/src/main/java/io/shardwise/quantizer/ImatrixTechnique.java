package io.shardwise.quantizer;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationSet;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Stage method {@code imatrix}: {@link ImportanceMatrix} from calibration, then ggml's importance-weighted quantizers. */
@ApplicationScoped
public class ImatrixTechnique implements ShardTechnique {
    static final String METHOD = "imatrix", TYPE = "type", USE_IMATRIX = "use_imatrix";
    static final List<TensorType> TYPES = List.of(GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.Q4_0,
            GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K);
    static final List<TensorType> FALLBACKS = List.of(GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_0, GgmlType.Q4_1,
            GgmlType.IQ4_NL, GgmlType.F16);

    private final CalibrationTexts texts;

    @Inject
    public ImatrixTechnique(CalibrationTexts texts) {
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
        ParamSpec.Builder type = ParamSpec.newBuilder().setName(TYPE).setDefaultValue("Q4_K").setDividesRowsUnless(TensorRules.FALLBACK)
                .setDescription("target ggml type: K-quants need rows that are a multiple of 256, the others of 32");
        for (TensorType t : TYPES) type.addAllowed(t.typeName()).putRowMultiple(t.typeName(), AwqTargets.rowMultiple(t));
        return Technique.newBuilder().setMethod(METHOD).setKind(kind())
                .setDescription("importance-matrix quantization as llama.cpp's imatrix: per-column mean x^2 of each linear's calibration input weights ggml's K-quant/IQ4_NL/Q4_0.. search")
                .addParams(type)
                .addParams(ParamSpec.newBuilder().setName(USE_IMATRIX).setDefaultValue("true").addAllowed("true").addAllowed("false")
                        .setDescription("false: the same types without the importance matrix (to compare)"))
                .addAllParams(CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT))
                .addAllParams(TensorRules.paramSpecs("", FALLBACKS.stream().map(TensorType::typeName).toList()))
                .build();
    }

    @Override
    public ShardOutput apply(ShardInput input) {
        Map<String, String> params = input.stage().getParamsMap();
        TensorRules rules = TensorRules.parse(METHOD, params);
        AwqTargets targets = new AwqTargets(METHOD, TYPE, "Q4_K", TYPES, FALLBACKS, rules);
        targets.validate(params);
        boolean use = AwqTechnique.bool(METHOD, params, USE_IMATRIX, true);
        CalibrationSpec spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        List<String> notes = new ArrayList<>();
        Map<String, TensorType> types = new LinkedHashMap<>();
        for (Tensor t : input.tensors().values()) {
            if (t.shape().length < 2) continue; // norms stay F32, as in llama.cpp
            if (rules.ignored(t.name())) notes.add(t.name() + ": ignored, kept as " + t.type().typeName());
            else types.put(t.name(), targets.of(t, params, notes));
        }
        try {
            BlockCalibration cal = use || spec.mode() == CalibrationMode.SEQUENTIAL
                    ? BlockCalibration.open(input, spec, texts.resolve(spec.dataset())) : null;
            ImportanceMatrix im = new ImportanceMatrix();
            if (use && !types.isEmpty()) cal.observe(im); // a tied model's head shard has only output_norm: nothing to weigh
            if (use && cal.block() < 0 && types.containsKey(TensorNames.TOKEN_EMBD)
                    && cal.model().classifier().name().equals(TensorNames.TOKEN_EMBD)) {
                // tied: token_embd is also the output matmul's weight, so it takes the head's importance (see ImportanceMatrix)
                int[][] windows = CalibrationSet.load(spec, texts.resolve(spec.dataset()), Tokenizers.forVocabulary(cal.model().vocabulary()));
                im.observeHead(cal.model(), windows, input.progress());
            }
            Map<String, Tensor> out = new LinkedHashMap<>();
            int weighted = 0;
            for (Map.Entry<String, TensorType> e : types.entrySet()) {
                float[] imp = use ? im.of(e.getKey()) : null;
                if (use && imp == null) notes.add(e.getKey() + ": no calibration input (an embedding lookup): quantized without importance");
                if (imp != null) weighted++;
                out.put(e.getKey(), ImportanceMatrix.quantize(input.tensors().get(e.getKey()), e.getValue(), imp));
            }
            Map<String, Double> st = new LinkedHashMap<>();
            st.put("quantized_tensors", (double) out.size());
            st.put("imatrix_tensors", (double) weighted);
            String next = spec.mode() == CalibrationMode.SEQUENTIAL ? cal.storeOutputs(out) : "";
            return new ShardOutput(out, st, notes, next, "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
