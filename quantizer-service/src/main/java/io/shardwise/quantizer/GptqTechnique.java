package io.shardwise.quantizer;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.calib.Hessian;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.GroupIntType;
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

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Stage method {@code gptq}: one {@link Hessian} per distinct linear input of the shard's block (q/k/v share one,
 * gate/up share one) from the calibration windows, then {@link Gptq} on every matrix; the embedding (a lookup, no
 * matmul to calibrate) gets RTN in the same format. In sequential mode the quantized block's outputs are stored for
 * the next block.
 */
@ApplicationScoped
public class GptqTechnique implements ShardTechnique {
    static final String METHOD = "gptq";
    /** Output error tr(dW H dW^T) is measured when it costs at most this many multiply-adds per matrix. */
    static final long ERROR_BUDGET = 1L << 32;

    private final CalibrationTexts texts;

    @Inject
    public GptqTechnique(CalibrationTexts texts) {
        this.texts = texts;
    }

    /** One tensor's settings (the stage's, with the first matching override on top). */
    record Settings(int bits, int groupSize, boolean symmetric, boolean intFormat, Gptq.Options options) {
        static Settings parse(Map<String, String> p) {
            int bits = integer(p, "bits", "4");
            if (bits < GroupIntType.MIN_BITS || bits > GroupIntType.MAX_BITS) throw new IllegalArgumentException(METHOD + ": params.bits " + bits + " is outside [2, 8]");
            int group = integer(p, "group_size", "128");
            if (group == 0 || group < -1) throw new IllegalArgumentException(METHOD + ": params.group_size " + group + " must be -1 (per channel) or positive");
            String format = p.getOrDefault("format", "auto").trim().toLowerCase(java.util.Locale.ROOT);
            if (!format.equals("auto") && !format.equals("int")) throw new IllegalArgumentException(METHOD + ": params.format '" + format + "' is not auto or int");
            double damp;
            try {
                damp = Double.parseDouble(p.getOrDefault("damp", "0.01").trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(METHOD + ": params.damp '" + p.get("damp") + "' is not a number");
            }
            return new Settings(bits, group, bool(p, "sym", "true"), format.equals("int"),
                    new Gptq.Options(bool(p, "act_order", "true"), bool(p, "static_groups", "false"), damp,
                            integer(p, "block_size", "128"), Math.max(1, Runtime.getRuntime().availableProcessors()), bool(p, "keep_zeros", "true")));
        }

        /** The output type for rows of {@code cols}: a GGUF type where the grid maps exactly, else per-group int. */
        TensorType type(int cols) {
            if (groupSize == -1) {
                if (!intFormat && !symmetric && (bits == 8 || bits == 4)) return bits == 8 ? ChannelIntType.I8_ASYM_CH : ChannelIntType.I4_ASYM_CH;
                return new GroupIntType(bits, cols, symmetric);
            }
            if (!intFormat && groupSize == 32) {
                if (bits == 4) return symmetric ? GgmlType.Q4_0 : GgmlType.Q4_1;
                if (bits == 5) return symmetric ? GgmlType.Q5_0 : GgmlType.Q5_1;
                if (bits == 8 && symmetric) return GgmlType.Q8_0;
            }
            return new GroupIntType(bits, groupSize, symmetric);
        }

        Settings perChannel() {
            return new Settings(bits, -1, symmetric, intFormat, options);
        }
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
        Technique.Builder t = Technique.newBuilder().setMethod(METHOD).setKind(kind())
                .setDescription("GPTQ (Frantar et al.): second-order weight quantization with calibration Hessians, act-order, groups and lazy batch updates; GGUF Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 or per-group int output (K-quants not supported)")
                .addParams(ParamSpec.newBuilder().setName("bits").setDefaultValue("4").setMin(2).setMax(8).setDescription("bits per weight"))
                .addParams(ParamSpec.newBuilder().setName("group_size").setDefaultValue("128").setMin(-1).setMax(1 << 16).setDividesRowsUnless(TensorRules.FALLBACK)
                        .setDescription("columns per grid; -1 = one grid per output channel"))
                .addParams(bool("sym", "true", "symmetric grid (zero point 2^(bits-1)); false: asymmetric with a zero point"))
                .addParams(bool("act_order", "true", "quantize columns by descending Hessian diagonal (with groups, grids are then static)"))
                .addParams(bool("static_groups", "false", "fit every group's grid on the original weights before any update"))
                .addParams(bool("keep_zeros", "true", "weights that are exactly zero (a pruned mask) stay zero: prune -> gptq keeps the sparsity (exactly on grids holding 0: symmetric, Q8_0, int with a zero point; Q4_1/Q5_1 take their code nearest 0)"))
                .addParams(ParamSpec.newBuilder().setName("damp").setDefaultValue("0.01").setMin(0.0001).setMax(1)
                        .setDescription("dampening: this fraction of mean(diag H) is added to H's diagonal (x10 retried when not positive definite)"))
                .addParams(ParamSpec.newBuilder().setName("block_size").setDefaultValue("128").setMin(1).setMax(4096).setDescription("columns per lazy batch update"))
                .addParams(ParamSpec.newBuilder().setName("format").setDefaultValue("auto").addAllowed("auto").addAllowed("int")
                        .setDescription("auto: the GGUF type when the grid maps exactly (group 32: 4-bit Q4_0/Q4_1, 5-bit Q5_0/Q5_1, 8-bit sym Q8_0; per-channel asym 4/8-bit I4/I8_ASYM_CH), else I<bits>_<SYM|ASYM>_G<group>; int: always the latter"));
        CalibrationSpec.paramSpecs(CalibrationMode.SEQUENTIAL).forEach(t::addParams);
        TensorRules.paramSpecs("", List.of("per_channel", "F16", "F32")).forEach(t::addParams);
        return t.build();
    }

    @Override
    public ShardOutput apply(ShardInput input) throws Exception {
        Map<String, String> stage = input.stage().getParamsMap();
        TensorRules rules = TensorRules.parse(METHOD, stage);
        Settings.parse(stage); // bad stage parameters fail before any calibration work
        CalibrationSpec spec = CalibrationSpec.fromParams(stage, CalibrationMode.SEQUENTIAL);
        BlockCalibration cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
        Map<String, Hessian> hessians = new ConcurrentHashMap<>();
        Map<String, String> inputOf = new ConcurrentHashMap<>();
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        cal.observe((Linear[] ws, float[] x, int off, int T, int n) -> {
            if (ws.length == 0 || java.util.Arrays.stream(ws).noneMatch(w -> input.tensors().containsKey(w.name()))) return;
            Hessian h = hessians.computeIfAbsent(ws[0].name(), k -> new Hessian(n, threads, true));
            for (Linear w : ws) inputOf.put(w.name(), ws[0].name());
            h.add(x, off, T, n);
        });
        Map<String, double[]> matrices = new LinkedHashMap<>();
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        int fallbacks = 0, ignored = 0;
        long elements = 0;
        double relError = 0;
        for (Tensor t : input.tensors().values()) {
            if (t.shape().length < 2) continue; // norms stay F32
            if (rules.ignored(t.name())) {
                ignored++;
                notes.add(t.name() + ": ignored, kept as " + t.type().typeName());
                continue;
            }
            Settings s = Settings.parse(rules.paramsFor(t.name(), stage));
            int cols = t.cols(), rows = t.rows();
            if (s.groupSize() > 0 && cols % s.groupSize() != 0) {
                int group = s.groupSize();
                String fb = rules.fallback().orElseThrow(() -> new IllegalArgumentException(METHOD + ": params.group_size " + group
                        + " does not divide the rows of " + t.name() + " (" + cols + " columns) and params.fallback is not set"));
                fallbacks++;
                notes.add(t.name() + ": row " + cols + " % " + s.groupSize() + " != 0 -> " + fb + " fallback");
                if (!fb.equalsIgnoreCase("per_channel")) {
                    out.put(t.name(), Rtn.quantize(t, TensorType.parse(fb), input.arena()).tensor());
                    elements += t.elements();
                    continue;
                }
                s = s.perChannel();
            }
            TensorType type = s.type(cols);
            String key = inputOf.get(t.name());
            if (key == null) { // the embedding is a lookup (no matmul, no Hessian): round to nearest in the same format
                out.put(t.name(), Rtn.quantize(t, type, input.arena()).tensor());
                notes.add(t.name() + (t.name().equals(TensorNames.TOKEN_EMBD) ? ": embedding lookup, RTN " : ": no calibration input, RTN ") + type.typeName());
            } else {
                input.progress().report(0.5, "gptq " + t.name());
                double[] h = matrices.computeIfAbsent(key, k -> hessians.get(k).matrix());
                float[] w = t.toFloats();
                Gptq.Result r = Gptq.quantize(t.name(), rows, cols, w, h, type, s.options(), input.arena());
                if (r.dampUsed() != s.options().damp()) notes.add(t.name() + ": Hessian needed damp " + (float) r.dampUsed());
                if ((long) rows * cols * cols <= ERROR_BUDGET) {
                    double[] e = Gptq.outputError(w, TensorCodecs.dequantize(r.tensor()), rows, cols, h);
                    relError += e[1] > 0 ? e[0] / e[1] : 0;
                }
                out.put(t.name(), r.tensor());
            }
            elements += t.elements();
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("quantized_tensors", (double) (out.size() - fallbacks));
        stats.put("fallback_tensors", (double) fallbacks);
        stats.put("ignored_tensors", (double) ignored);
        stats.put("elements", (double) elements);
        stats.put("relative_output_error", relError);
        String next = spec.mode() == CalibrationMode.SEQUENTIAL ? cal.storeOutputs(out) : "";
        return new ShardOutput(out, stats, notes, next, "");
    }

    private static ParamSpec.Builder bool(String name, String dflt, String description) {
        return ParamSpec.newBuilder().setName(name).setDefaultValue(dflt).addAllowed("true").addAllowed("false").setDescription(description);
    }

    private static int integer(Map<String, String> p, String key, String dflt) {
        String v = p.getOrDefault(key, dflt).trim();
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params." + key + " '" + v + "' is not a whole number");
        }
    }

    private static boolean bool(Map<String, String> p, String key, String dflt) {
        String v = p.getOrDefault(key, dflt).trim().toLowerCase(java.util.Locale.ROOT);
        if (v.equals("true")) return true;
        if (v.equals("false")) return false;
        throw new IllegalArgumentException(METHOD + ": params." + key + " '" + v + "' is not true or false");
    }
}
