package io.shardwise.pruner;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.proto.v1.ParamSpec;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Stage method {@code asvd}: the mean |x| of every linear input of the block over the calibration windows
 * ({@link BlockCalibration}), then {@link Asvd} on every block matrix, each replaced by its two factors. In
 * sequential mode the next block is calibrated on this block's factorized outputs.
 */
@ApplicationScoped
public class AsvdTechnique extends LowRankTechnique {
    static final String METHOD = "asvd", ALPHA = "alpha", ALPHA_GRID = "alpha_grid";
    /** Calibration tokens (a strided subsample) per linear input on which the alpha search measures output errors. */
    static final int SEARCH_TOKENS = 512;

    private final TextDatasets texts;

    @Inject
    public AsvdTechnique(TextDatasets texts) {
        this.texts = texts;
    }

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    String description() {
        return "ASVD (Yuan et al. 2023): input channels scaled by mean|x|^alpha from calibration before the truncated SVD, the scale folded back into lora_a; the weight is dropped";
    }

    @Override
    boolean replacesWeight() {
        return true;
    }

    @Override
    List<ParamSpec> ownParams() {
        List<ParamSpec> p = new ArrayList<>();
        p.add(ParamSpec.newBuilder().setName(ALPHA).setDefaultValue(Double.toString(Asvd.DEFAULT_ALPHA)).setMin(0).setMax(1)
                .setDescription("exponent of the activation scale s_j = mean|x_j|^alpha (0 = plain SVD)").build());
        p.add(ParamSpec.newBuilder().setName(ALPHA_GRID).setDefaultValue("0").setMin(0).setMax(21)
                .setDescription("0: the fixed alpha; n >= 2: per layer, the alpha of n evenly spaced in [0, 1] (0 = plain SVD) whose output error on "
                        + SEARCH_TOKENS + " calibration tokens is the smallest").build());
        p.addAll(CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT));
        return p;
    }

    static double alpha(Map<String, String> params) {
        String v = params.getOrDefault(ALPHA, Double.toString(Asvd.DEFAULT_ALPHA)).trim();
        double a;
        try {
            a = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params." + ALPHA + " '" + v + "' is not a number");
        }
        if (!(a >= 0 && a <= 1)) throw new IllegalArgumentException(METHOD + ": params." + ALPHA + " " + v + " is outside [0, 1]");
        return a;
    }

    /** The alphas to try: the fixed one, or {@code alpha_grid} evenly spaced in [0, 1]. */
    static double[] alphas(Map<String, String> params) {
        double alpha = alpha(params);
        String v = params.getOrDefault(ALPHA_GRID, "0").trim();
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params." + ALPHA_GRID + " '" + v + "' is not a whole number");
        }
        if (n < 0 || n == 1 || n > 21) throw new IllegalArgumentException(METHOD + ": params." + ALPHA_GRID + " " + n + " is not 0 (off) or in [2, 21]");
        if (n == 0) return new double[]{alpha};
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = (double) i / (n - 1);
        return a;
    }

    @Override
    Factorized factorize(ShardInput input) throws Exception {
        Map<String, String> params = input.stage().getParamsMap();
        RankSelection rule = rule(params);
        TensorType type = factorType(params);
        double[] alphas = alphas(params);
        CalibrationSpec spec;
        try {
            spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(METHOD + ": params." + e.getMessage(), e);
        }
        List<Tensor> matrices = matrices(input, rule);
        if (matrices.isEmpty()) {
            return new Factorized(Map.of(), List.of(), Map.of(), new LinkedHashMap<>(Map.of("factorized_tensors", 0.0)),
                    new ArrayList<>(List.of(input.shard().getShardId() + ": no block matrix to factorize")), "");
        }
        BlockCalibration cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
        Map<String, double[]> absSum = new ConcurrentHashMap<>();
        Map<String, String> inputOf = new ConcurrentHashMap<>();
        Map<String, Sample> samples = new ConcurrentHashMap<>();
        long stride = Math.max(1, (cal.tokens() + SEARCH_TOKENS - 1) / SEARCH_TOKENS);
        List<String> names = matrices.stream().map(Tensor::name).toList();
        cal.observe((Linear[] ws, float[] x, int off, int T, int n) -> {
            if (ws.length == 0 || java.util.Arrays.stream(ws).noneMatch(w -> names.contains(w.name()))) return;
            double[] sum = absSum.computeIfAbsent(ws[0].name(), k -> new double[n]);
            Sample sample = samples.computeIfAbsent(ws[0].name(), k -> new Sample(n));
            for (Linear w : ws) inputOf.put(w.name(), ws[0].name());
            synchronized (sum) {
                for (int t = 0; t < T; t++) {
                    for (int j = 0; j < n; j++) sum[j] += Math.abs(x[off + t * n + j]);
                    if (alphas.length > 1 && sample.seen++ % stride == 0 && sample.count < SEARCH_TOKENS) {
                        System.arraycopy(x, off + t * n, sample.x, sample.count++ * n, n);
                    }
                }
            }
        });
        Map<String, Layer> layers = new LinkedHashMap<>();
        Map<String, Double> chosen = new LinkedHashMap<>();
        for (Tensor t : matrices) {
            String key = inputOf.get(t.name());
            if (key == null) throw new IllegalStateException(METHOD + ": no calibration input reached " + t.name());
            input.progress().report(0.5, "asvd " + t.name());
            double[] mean = absSum.get(key).clone();
            for (int j = 0; j < mean.length; j++) mean[j] /= cal.tokens();
            if (alphas.length == 1) {
                layers.put(t.name(), new Layer(Asvd.factorize(t.toFloats(), t.rows(), t.cols(), mean, alphas[0], rule), null));
            } else {
                Sample sm = samples.get(key);
                float[] x = java.util.Arrays.copyOf(sm.x, sm.count * t.cols());
                Asvd.Searched best = Asvd.search(t.toFloats(), t.rows(), t.cols(), mean, alphas, rule, x, sm.count);
                layers.put(t.name(), new Layer(best.factors(), null));
                chosen.put(t.name(), best.alpha());
            }
        }
        Factorized f = assemble(matrices, layers, type);
        chosen.forEach((n, a) -> f.notes().add(n + ": alpha " + a));
        if (!chosen.isEmpty()) f.stats().put("alpha_sum", chosen.values().stream().mapToDouble(Double::doubleValue).sum());
        String next = spec.mode() == CalibrationMode.SEQUENTIAL ? cal.storeOutputs(f.dense()) : "";
        return f.withActivations(next);
    }

    /** A strided subsample of one linear input's calibration tokens (for the alpha search). */
    private static final class Sample {
        final float[] x;
        int count;
        long seen;

        Sample(int n) {
            this.x = new float[SEARCH_TOKENS * n];
        }
    }
}
