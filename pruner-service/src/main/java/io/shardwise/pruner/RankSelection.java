package io.shardwise.pruner;

import io.shardwise.proto.v1.ParamSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How many singular directions a factorized layer keeps: a fixed {@code rank}, the smallest rank whose singular
 * values hold an {@code energy} fraction of sum(sigma_i^2), or a parameter {@code budget}: the factors of an
 * out x in layer hold r * (in + out) <= budget * in * out parameters. Stage parameters {@code rank}, {@code energy},
 * {@code budget}: at most one; none means the technique's default budget ({@link #DEFAULT_BUDGET} for SVD and ASVD).
 */
public sealed interface RankSelection permits RankSelection.Fixed, RankSelection.Energy, RankSelection.Budget {
    String RANK = "rank", ENERGY = "energy", BUDGET = "budget";
    double DEFAULT_BUDGET = 0.5;

    /** The rank for an out x in layer whose singular values, in descending order, are {@code sigma}. */
    int rank(double[] sigma, int in, int out);

    /** Refuses this rule for an out x in layer before any work, naming the stage parameter. */
    void check(String method, String layer, int in, int out);

    /** Keep exactly {@code rank} directions. */
    record Fixed(int rank) implements RankSelection {
        public Fixed {
            if (rank < 1) throw new IllegalArgumentException("params." + RANK + " " + rank + " must be at least 1");
        }

        @Override
        public int rank(double[] sigma, int in, int out) {
            return rank;
        }

        @Override
        public void check(String method, String layer, int in, int out) {
            if (rank > Math.min(in, out)) {
                throw new IllegalArgumentException(method + ": params." + RANK + " " + rank + " is larger than the rank of " + layer
                        + " (" + out + " x " + in + ", at most " + Math.min(in, out) + ")");
            }
        }
    }

    /** Keep the smallest r with sum_{i<r} sigma_i^2 >= threshold * sum_i sigma_i^2. */
    record Energy(double threshold) implements RankSelection {
        public Energy {
            if (!(threshold > 0 && threshold <= 1)) throw new IllegalArgumentException("params." + ENERGY + " " + threshold + " is outside (0, 1]");
        }

        @Override
        public int rank(double[] sigma, int in, int out) {
            double total = 0;
            for (double s : sigma) total += s * s;
            if (total == 0) return 1; // a zero matrix: one (zero) direction keeps the layer's shape valid
            double kept = 0;
            for (int r = 0; r < sigma.length; r++) {
                kept += sigma[r] * sigma[r];
                if (kept >= threshold * total * (1 - 1e-12)) return r + 1; // rounding must not push 1.0 past the last value
            }
            return sigma.length;
        }

        @Override
        public void check(String method, String layer, int in, int out) {
        }
    }

    /** Keep r = floor(fraction * in * out / (in + out)) directions. */
    record Budget(double fraction) implements RankSelection {
        public Budget {
            if (!(fraction > 0 && fraction < 1)) throw new IllegalArgumentException("params." + BUDGET + " " + fraction + " is outside (0, 1)");
        }

        /** The rank this budget gives an out x in layer (r * (in + out) <= fraction * in * out, always below min(in, out)). */
        public int rankFor(int in, int out) {
            return (int) Math.floor(fraction * in * (double) out / (in + out) + 1e-9);
        }

        @Override
        public int rank(double[] sigma, int in, int out) {
            return rankFor(in, out);
        }

        @Override
        public void check(String method, String layer, int in, int out) {
            if (rankFor(in, out) < 1) {
                throw new IllegalArgumentException(String.format(Locale.ROOT, "%s: params.%s %s leaves rank 0 for %s (%d x %d needs at least %.4g for rank 1)",
                        method, BUDGET, fraction, layer, out, in, (in + out) / ((double) in * out)));
            }
        }
    }

    /** The rule a stage's parameters name (none: {@link #DEFAULT_BUDGET}); a bad or conflicting value is refused naming its parameter. */
    static RankSelection parse(String method, Map<String, String> params) {
        return parse(method, params, DEFAULT_BUDGET);
    }

    /** As {@link #parse(String, Map)}, with the technique's own default budget. */
    static RankSelection parse(String method, Map<String, String> params, double defaultBudget) {
        List<String> given = new ArrayList<>();
        for (String k : List.of(RANK, ENERGY, BUDGET)) if (!params.getOrDefault(k, "").isBlank()) given.add(k);
        if (given.size() > 1) throw new IllegalArgumentException(method + ": params." + given.get(1) + ": set only one of rank, energy, budget (also given: " + given.getFirst() + ")");
        String key = given.isEmpty() ? BUDGET : given.getFirst();
        String v = params.getOrDefault(key, Double.toString(defaultBudget)).trim();
        try {
            return switch (key) {
                case RANK -> new Fixed(whole(method, v));
                case ENERGY -> new Energy(number(method, ENERGY, v));
                default -> new Budget(number(method, BUDGET, v));
            };
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith(method + ":") ? e : new IllegalArgumentException(method + ": " + e.getMessage(), e);
        }
    }

    private static int whole(String method, String v) {
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(method + ": params." + RANK + " '" + v + "' is not a whole number");
        }
    }

    private static double number(String method, String key, String v) {
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(method + ": params." + key + " '" + v + "' is not a number");
        }
    }

    /** The three parameters' specs, for a technique's capabilities. */
    static List<ParamSpec> paramSpecs(double defaultBudget) {
        return List.of(
                ParamSpec.newBuilder().setName(RANK).setMin(1).setMax(1 << 20)
                        .setDescription("keep this many singular directions in every factorized layer (at most min(in, out) of each)").build(),
                ParamSpec.newBuilder().setName(ENERGY).setMin(0).setMax(1)
                        .setDescription("per layer, the smallest rank whose sigma_i^2 hold this fraction of the total, in (0, 1]").build(),
                ParamSpec.newBuilder().setName(BUDGET).setMin(0).setMax(1)
                        .setDescription("factors keep this fraction of each layer's parameters: r * (in + out) <= budget * in * out, in (0, 1); "
                                + "the default (" + defaultBudget + ") when none of rank, energy, budget is set").build());
    }
}
