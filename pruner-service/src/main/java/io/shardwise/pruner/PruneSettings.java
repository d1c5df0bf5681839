package io.shardwise.pruner;

import io.shardwise.proto.v1.ParamSpec;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The pattern and per-layer schedule parameters that the calibrated pruning methods share: {@code sparsity},
 * {@code pattern}, {@code schedule} (uniform, or OWL from a plan shard), {@code owl_lambda}, {@code owl_m}.
 */
record PruneSettings(MagnitudePruning.Pattern pattern, Schedule schedule, double owlLambda, double owlM) {
    static final String SPARSITY = "sparsity", PATTERN = "pattern", SCHEDULE = "schedule", OWL_LAMBDA = "owl_lambda", OWL_M = "owl_m";
    /** ParamSpec ranges are inclusive: the largest double below 1 makes the gateway refuse sparsity 1 at submit. */
    static final double MAX_SPARSITY = Math.nextDown(1.0);

    /** How the target sparsity is spread over layers. */
    enum Schedule {
        UNIFORM, OWL;

        String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Parses a stage's parameters; errors start with {@code <method>: params.<name>}. */
    static PruneSettings parse(String method, Map<String, String> p) {
        double s = number(method, p, SPARSITY, "0.5");
        if (!(s >= 0 && s < 1)) throw new IllegalArgumentException(method + ": params.sparsity " + s + " is outside [0, 1)");
        String pat = p.getOrDefault(PATTERN, "unstructured");
        MagnitudePruning.Pattern pattern;
        try {
            pattern = MagnitudePruning.parse(pat, s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(method + ": params.pattern: " + e.getMessage());
        }
        String sch = p.getOrDefault(SCHEDULE, "uniform").trim().toLowerCase(Locale.ROOT);
        Schedule schedule = switch (sch) {
            case "uniform" -> Schedule.UNIFORM;
            case "owl" -> Schedule.OWL;
            default -> throw new IllegalArgumentException(method + ": params.schedule '" + sch + "' is not uniform or owl");
        };
        if (schedule == Schedule.OWL && pattern instanceof MagnitudePruning.NOfM) {
            throw new IllegalArgumentException(method + ": params.schedule owl spreads an unstructured sparsity over layers; pattern " + pat + " fixes every layer's");
        }
        double lambda = number(method, p, OWL_LAMBDA, "0.08");
        if (!(lambda >= 0 && lambda <= 0.5)) throw new IllegalArgumentException(method + ": params.owl_lambda " + lambda + " is outside [0, 0.5]");
        double m = number(method, p, OWL_M, "5");
        if (!(m >= 1 && m <= 100)) throw new IllegalArgumentException(method + ": params.owl_m " + m + " is outside [1, 100]");
        return new PruneSettings(pattern, schedule, lambda, m);
    }

    /** The target sparsity of unstructured pruning (N:M's is fixed by its pattern). */
    double sparsity() {
        return pattern instanceof MagnitudePruning.Unstructured u ? u.sparsity() : 0;
    }

    static List<ParamSpec> paramSpecs() {
        return List.of(
                ParamSpec.newBuilder().setName(SPARSITY).setDefaultValue("0.5").setMin(0).setMax(MAX_SPARSITY)
                        .setDescription("fraction of each matrix's weights to zero, in [0, 1) (unstructured only; N:M implies (M-N)/M)").build(),
                ParamSpec.newBuilder().setName(PATTERN).setDefaultValue("unstructured").addAllAllowed(NmSparsity.allowedPatterns())
                        .setDescription("'unstructured', or N:M with N < M <= " + NmSparsity.MAX_M + ": keep N of every M consecutive weights of a row (e.g. 2:4, 4:8)").build(),
                ParamSpec.newBuilder().setName(SCHEDULE).setDefaultValue("uniform").addAllowed("uniform").addAllowed("owl").setNeedsPlan(true)
                        .setDescription("per-layer sparsity: uniform, or owl (Yin et al.): layers with more activation outliers keep more weights; a plan shard measures every layer first (unstructured only)").build(),
                ParamSpec.newBuilder().setName(OWL_LAMBDA).setDefaultValue("0.08").setMin(0).setMax(0.5)
                        .setDescription("owl: layer sparsities lie in [sparsity - lambda, sparsity + lambda]").build(),
                ParamSpec.newBuilder().setName(OWL_M).setDefaultValue("5").setMin(1).setMax(100)
                        .setDescription("owl: a score above this many times its layer's mean is an outlier").build());
    }

    static double number(String method, Map<String, String> p, String key, String dflt) {
        String v = p.getOrDefault(key, dflt).trim();
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(method + ": params." + key + " '" + v + "' is not a number");
        }
    }
}
