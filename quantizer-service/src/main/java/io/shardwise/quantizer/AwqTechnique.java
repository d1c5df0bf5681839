package io.shardwise.quantizer;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
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

/** Stage method {@code awq}: {@link Awq} on each block (and the head), calibrated by {@link BlockCalibration}. */
@ApplicationScoped
public class AwqTechnique implements ShardTechnique {
    static final String METHOD = "awq", TARGET = "target", N_GRID = "n_grid", CLIP = "clip", SEARCH_TOKENS = "search_tokens";
    static final List<TensorType> TYPES = List.of(GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
            ChannelIntType.I4_ASYM_CH, ChannelIntType.I8_ASYM_CH);
    static final List<TensorType> FALLBACKS = List.of(ChannelIntType.I4_ASYM_CH, ChannelIntType.I8_ASYM_CH, GgmlType.F16);
    static final int MAX_SEARCH_TOKENS = 4096;

    private final CalibrationTexts texts;

    @Inject
    public AwqTechnique(CalibrationTexts texts) {
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
        ParamSpec.Builder target = ParamSpec.newBuilder().setName(TARGET).setDefaultValue("Q4_0").setDividesRowsUnless(TensorRules.FALLBACK)
                .setDescription("target type: ggml blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) or per-channel asymmetric int (I4_ASYM_CH, I8_ASYM_CH)");
        for (TensorType t : TYPES) target.addAllowed(t.typeName()).putRowMultiple(t.typeName(), AwqTargets.rowMultiple(t));
        return Technique.newBuilder().setMethod(METHOD).setKind(kind())
                .setDescription("AWQ (Lin et al.): activation-aware per-input-channel scales s = s_X^alpha folded into the preceding norm/linear, clipping search, then the target grid")
                .addParams(target)
                .addParams(ParamSpec.newBuilder().setName(N_GRID).setDefaultValue("20").setMin(1).setMax(100)
                        .setDescription("alphas searched, evenly spaced in [0, 1] (0 = plain round-to-nearest)"))
                .addParams(ParamSpec.newBuilder().setName(CLIP).setDefaultValue("true").addAllowed("true").addAllowed("false")
                        .setDescription("search a clipping ratio (1.0..0.5 of the range) per quantization group, except q/k"))
                .addParams(ParamSpec.newBuilder().setName(SEARCH_TOKENS).setDefaultValue(Integer.toString(MAX_SEARCH_TOKENS)).setMin(16).setMax(MAX_SEARCH_TOKENS)
                        .setDescription("calibration tokens (a strided subsample) on which output errors are measured"))
                .addAllParams(CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT))
                .addAllParams(TensorRules.paramSpecs("", FALLBACKS.stream().map(TensorType::typeName).toList()))
                .build();
    }

    @Override
    public ShardOutput apply(ShardInput input) {
        Map<String, String> params = input.stage().getParamsMap();
        TensorRules rules = TensorRules.parse(METHOD, params);
        AwqTargets targets = new AwqTargets(METHOD, TARGET, "Q4_0", TYPES, FALLBACKS, rules);
        targets.validate(params);
        int nGrid = integer(params, N_GRID, 20, 1, 100);
        int searchTokens = integer(params, SEARCH_TOKENS, MAX_SEARCH_TOKENS, 16, MAX_SEARCH_TOKENS);
        boolean clip = bool(METHOD, params, CLIP, true);
        CalibrationSpec spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        List<String> notes = new ArrayList<>();
        Map<String, Awq.Matrix> mats = new LinkedHashMap<>();
        Map<String, float[]> norms = new LinkedHashMap<>();
        for (Tensor t : input.tensors().values()) {
            if (t.shape().length < 2) {
                norms.put(t.name(), t.toFloats());
            } else if (rules.ignored(t.name())) {
                notes.add(t.name() + ": ignored, kept as " + t.type().typeName());
            } else {
                mats.put(t.name(), new Awq.Matrix(t.name(), t.cols(), t.rows(), t.toFloats(), targets.of(t, params, notes)));
            }
        }
        try {
            BlockCalibration cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
            AwqStats stats = new AwqStats(cal.tokens(), searchTokens);
            cal.observe(stats);
            int block = cal.block(), layers = cal.model().config().nLayers();
            List<Awq.Group> groups = block < 0 ? List.of() : block == layers ? Awq.headGroups() : Awq.blockGroups(block, cal.model().config());
            Awq.Report report = Awq.run(mats, norms, groups, stats, new Awq.Options(nGrid, clip));
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Awq.Matrix m : mats.values()) {
                if (stats.of(m.name()) == null) notes.add(m.name() + ": no calibration input (an embedding lookup): plain round-to-nearest");
                out.put(m.name(), TensorCodecs.quantize(m.name(), new long[]{m.in(), m.rows()}, m.w(), m.type()));
            }
            for (Awq.Group g : groups) {
                float[] norm = norms.get(g.prev());
                if (norm != null && report.alphas().containsKey(g.linears().getFirst())) {
                    out.put(g.prev(), Tensor.ofFloats(g.prev(), new long[]{norm.length}, norm));
                }
            }
            Map<String, Double> st = new LinkedHashMap<>();
            st.put("quantized_tensors", (double) mats.size());
            st.put("scaled_groups", (double) report.alphas().size());
            st.put("alpha_sum", report.alphas().values().stream().mapToDouble(Double::doubleValue).sum());
            st.put("clipped_tensors", (double) report.clips().size());
            report.alphas().forEach((k, v) -> notes.add(k + " group: alpha " + v));
            String next = spec.mode() == CalibrationMode.SEQUENTIAL ? cal.storeOutputs(out) : "";
            return new ShardOutput(out, st, notes, next, "");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int integer(Map<String, String> params, String key, int dflt, int min, int max) {
        String v = params.get(key);
        if (v == null || v.isBlank()) return dflt;
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params." + key + " '" + v + "' is not a whole number");
        }
        if (n < min || n > max) throw new IllegalArgumentException(METHOD + ": params." + key + " " + n + " is outside [" + min + ", " + max + "]");
        return n;
    }

    static boolean bool(String method, Map<String, String> params, String key, boolean dflt) {
        String v = params.getOrDefault(key, "").trim();
        if (v.isEmpty()) return dflt;
        if (v.equalsIgnoreCase("true")) return true;
        if (v.equalsIgnoreCase("false")) return false;
        throw new IllegalArgumentException(method + ": params." + key + " '" + v + "' is not true or false");
    }
}
