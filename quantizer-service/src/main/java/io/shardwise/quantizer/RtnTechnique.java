package io.shardwise.quantizer;

import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSet;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Stage method {@code rtn}: {@link Rtn} on every matrix of a shard; 1-D tensors (norms) and ignored ones stay as they
 * are. A tensor's type: its override's ({@link TensorRules}), else the stage plan's (with {@code target_bpw}: the
 * plan shard measures every tensor's sensitivity and runs {@link BitAllocation}), else {@code type}.
 */
@ApplicationScoped
public class RtnTechnique implements ShardTechnique {
    static final String METHOD = "rtn", TYPE = "type", TARGET_BPW = "target_bpw", CANDIDATES = "candidates", PLAN_SHARD = "plan", NONE = "none";
    /** Every quantized weight format with a codec (Q8_K and Q8_1 are activation formats). */
    static final List<TensorType> TYPES = Stream.of(
                    Arrays.stream(GgmlType.values()).filter(g -> g.isQuantized() && g != GgmlType.Q8_K && g != GgmlType.Q8_1),
                    Arrays.stream(ChannelIntType.values()), Arrays.stream(CodebookType.values()), Stream.of(RowInt8Type.I8_SYM_CH))
            .<TensorType>flatMap(s -> s).filter(TensorCodecs::supports).toList();
    static final List<String> FALLBACKS = List.of("F16", "F32", "Q8_0", "I8_ASYM_CH", "I4_ASYM_CH");
    static final String DEFAULT_CANDIDATES = String.join(",", Stream.of("Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0",
            "IQ4_NL", "Q3_K", "Q2_K", "I8_ASYM_CH", "I4_ASYM_CH").filter(n -> TYPES.stream().anyMatch(t -> t.typeName().equals(n))).toList());
    static final double MIN_BPW = 1.5, MAX_BPW = 16;

    private final CalibrationTexts texts;

    @Inject
    public RtnTechnique(CalibrationTexts texts) {
        this.texts = texts;
    }

    /** Without configured calibration texts: only built-in names and the demo's resolve (tests, the in-process chain). */
    public RtnTechnique() {
        this(new CalibrationTexts(Optional.empty(), Map.of(), List.of(), DemoModel.defaultCacheDir()));
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
        ParamSpec.Builder type = ParamSpec.newBuilder().setName(TYPE).setDefaultValue("Q8_0").setDividesRowsUnless(TensorRules.FALLBACK)
                .setDescription("target type: ggml blocks (Q8_0, Q4_0, K-quants, IQ4_NL, ...; rows that do not fit a block get the fallback) or per-channel int (I8_ASYM_CH, I4_ASYM_CH)");
        TYPES.forEach(t -> {
            type.addAllowed(t.typeName());
            if (t instanceof GgmlType g) type.putRowMultiple(t.typeName(), g.blockSize);
        });
        Technique.Builder b = Technique.newBuilder().setMethod(method()).setKind(kind())
                .setDescription("round-to-nearest weight quantization (RTN, the data-free baseline), any codec type; per-tensor overrides;"
                        + " target_bpw picks per-tensor types from measured sensitivity to meet a bits-per-weight budget")
                .addParams(type)
                .addParams(ParamSpec.newBuilder().setName(TARGET_BPW).setMin(MIN_BPW).setMax(MAX_BPW).setNeedsPlan(true)
                        .setDescription("bits-per-weight budget over the quantized matrices (block scales included): a plan shard measures each tensor's"
                                + " error in each candidate type (weighted by calibration activations) and picks types greedily (BitAllocation); overrides type"))
                .addParams(ParamSpec.newBuilder().setName(CANDIDATES).setDefaultValue(DEFAULT_CANDIDATES)
                        .setDescription("comma-separated types target_bpw chooses from (each of the type parameter's allowed values); a tensor skips those its rows do not fit"));
        TensorRules.paramSpecs("F16", FALLBACKS).forEach(b::addParams);
        for (ParamSpec p : CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT)) {
            if (p.getName().equals(CalibrationSpec.MODE)) continue; // one whole-model pass: no modes
            if (p.getName().equals(CalibrationSpec.DATASET)) {
                p = p.toBuilder().setDescription("target_bpw only: the text whose activations weight each tensor's error (" + p.getDescription() + "); none: every weight counts alike").build();
            }
            b.addParams(p);
        }
        return b.build();
    }

    /** The stage's parameters, parsed and checked; every error names the parameter. */
    record Setup(TensorRules rules, TensorType type, TensorType fallback, Map<String, TensorType> overrideTypes, Optional<Double> targetBpw) {
        /** A tensor's override type, if an override matches it. */
        Optional<TensorType> overrideType(String tensor) {
            return rules.overrideFor(tensor).map(o -> overrideTypes.get(o.pattern().pattern()));
        }

        static Setup of(Map<String, String> params) {
            TensorRules rules = TensorRules.parse(METHOD, params);
            rules.requireOverridable(METHOD, Set.of(TYPE));
            Map<String, TensorType> overrides = new LinkedHashMap<>();
            for (TensorRules.Override o : rules.overrides()) {
                if (!o.params().containsKey(TYPE)) throw new IllegalArgumentException(METHOD + ": params.overrides." + o.pattern().pattern() + " sets no " + TYPE);
                overrides.put(o.pattern().pattern(), parseType("params.overrides." + o.pattern().pattern() + "." + TYPE, o.params().get(TYPE)));
            }
            String fb = rules.fallback().orElse("F16");
            TensorType fallback = FALLBACKS.stream().filter(n -> n.equalsIgnoreCase(fb)).findFirst().map(TensorType::parse)
                    .orElseThrow(() -> new IllegalArgumentException(METHOD + ": params.fallback '" + fb + "' is not one of " + FALLBACKS));
            Optional<Double> target = Optional.ofNullable(params.get(TARGET_BPW)).filter(s -> !s.isBlank()).map(s -> {
                double v;
                try {
                    v = Double.parseDouble(s.trim());
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(METHOD + ": params.target_bpw '" + s + "' is not a number");
                }
                if (!(v >= MIN_BPW && v <= MAX_BPW)) throw new IllegalArgumentException(METHOD + ": params.target_bpw " + s + " is outside [" + MIN_BPW + ", " + MAX_BPW + "]");
                return v;
            });
            return new Setup(rules, parseType("params." + TYPE, params.getOrDefault(TYPE, "Q8_0")), fallback, Map.copyOf(overrides), target);
        }
    }

    @Override
    public ShardOutput apply(ShardInput input) throws IOException {
        Map<String, String> params = input.stage().getParamsMap();
        Setup setup = Setup.of(params);
        if (input.shard().getShardId().equals(PLAN_SHARD)) return plan(input, setup, params);
        BitPlan plan = input.plan().isEmpty() ? null : BitPlan.load(input.store().blobs(), input.plan());
        if (setup.targetBpw().isPresent() && plan == null) {
            throw new IllegalArgumentException(METHOD + ": params.target_bpw is set but shard " + input.shard().getShardId() + " has no plan (the stage's plan shard runs first)");
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        int fallbacks = 0, ignored = 0, overridden = 0;
        long elements = 0, bits = 0;
        for (Tensor t : input.tensors().values()) {
            if (t.shape().length < 2) continue; // norms stay F32, as in llama.cpp
            if (setup.rules().ignored(t.name())) {
                ignored++;
                notes.add(t.name() + ": ignored, kept as " + t.type().typeName());
                continue;
            }
            Optional<TensorType> override = setup.overrideType(t.name());
            TensorType want;
            if (override.isPresent()) {
                want = override.get();
                overridden++;
                notes.add(t.name() + ": override '" + setup.rules().overrideFor(t.name()).orElseThrow().pattern().pattern() + "' -> " + want.typeName());
            } else if (plan != null) {
                want = plan.types().get(t.name());
                if (want == null) throw new IllegalArgumentException("plan blob " + input.plan() + " has no type for tensor " + t.name());
            } else {
                want = setup.type();
            }
            Rtn.Quantized q = Rtn.quantize(t, want, setup.fallback(), input.arena());
            q.fallback().ifPresent(notes::add);
            if (q.fallback().isPresent()) fallbacks++;
            out.put(t.name(), q.tensor());
            elements += t.elements();
            bits += 8 * q.tensor().data().byteSize();
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("quantized_tensors", (double) (out.size() - fallbacks));
        stats.put("fallback_tensors", (double) fallbacks);
        stats.put("ignored_tensors", (double) ignored);
        stats.put("overridden_tensors", (double) overridden);
        stats.put("elements", (double) elements);
        stats.put("stored_bits", (double) bits);
        return new ShardOutput(out, stats, notes);
    }

    /** The plan shard: importance (calibration or none), sensitivity per candidate, allocation; the plan goes to a blob. */
    private ShardOutput plan(ShardInput input, Setup setup, Map<String, String> params) throws IOException {
        double target = setup.targetBpw().orElseThrow(() -> new IllegalArgumentException(METHOD + ": shard plan needs params.target_bpw"));
        List<TensorType> candidates = new ArrayList<>();
        for (String c : params.getOrDefault(CANDIDATES, DEFAULT_CANDIDATES).split(",")) {
            if (!c.isBlank()) candidates.add(parseType("params." + CANDIDATES, c.trim()));
        }
        if (candidates.isEmpty()) throw new IllegalArgumentException(METHOD + ": params.candidates is empty");
        String dataset = params.getOrDefault(CalibrationSpec.DATASET, CalibrationSpec.DEFAULT_DATASET).trim();
        ActivationImportance.Result importance = null;
        if (!dataset.equalsIgnoreCase(NONE)) {
            CalibrationSpec spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
            LlamaModel model = input.store().load(input.inputDigest(), input.arena());
            int[][] windows = CalibrationSet.load(spec, texts.resolve(spec.dataset()), Tokenizers.forVocabulary(model.vocabulary()));
            importance = ActivationImportance.collect(model, windows, input.progress());
        }
        List<Tensor> matrices = input.tensors().values().stream().filter(t -> t.shape().length >= 2 && !setup.rules().ignored(t.name())).toList();
        ActivationImportance.Result imp = importance;
        SensitivityPlanner.Result r = SensitivityPlanner.plan(matrices, t -> setup.overrideType(t.name()).map(o -> Rtn.fits(o, t.shape()[0]) ? o : setup.fallback()),
                candidates, setup.fallback(), name -> imp == null ? QuantizationError.Importance.UNIFORM : imp.of(name), target);
        input.progress().report(1.0, String.format(Locale.ROOT, "plan: %.4f bpw", r.allocation().bpw()));
        String digest = r.plan().store(input.store().blobs());
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("target_bpw", target);
        stats.put("planned_bpw", r.allocation().bpw());
        stats.put("planned_tensors", (double) r.plan().types().size());
        stats.put("planned_error", r.allocation().error());
        stats.put("calibration_tokens", importance == null ? 0.0 : (double) importance.tokens());
        return new ShardOutput(Map.of(), stats, r.notes(), "", digest);
    }

    static TensorType parseType(String field, String name) {
        if (name != null) for (TensorType t : TYPES) if (t.typeName().equalsIgnoreCase(name.trim())) return t;
        throw new IllegalArgumentException(METHOD + ": " + field + " '" + name + "' is not one of " + TYPES.stream().map(TensorType::typeName).toList());
    }
}
