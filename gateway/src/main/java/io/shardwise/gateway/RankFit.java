package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.model.TensorNames;
import io.shardwise.proto.v1.ParamSpec;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Submit-time check of a low-rank stage's rank parameters against the block matrices it factorizes (every
 * {@code blk.N} linear weight, out x in). A low-rank technique is one whose parameters include both {@code rank} and
 * {@code budget} (the pruner's RankSelection; the convention is by name because ParamSpec cannot gain a field without
 * regenerating the proto): {@code rank} must not exceed min(in, out) of any of them, and {@code budget} (a parameter
 * fraction b) must leave each a rank floor(b * in * out / (in + out)) of at least 1. Only values the stage sets are checked.
 */
final class RankFit {
    static final String RANK = "rank", BUDGET = "budget";

    /** A block matrix of the model: its GGUF name, rows (out) and row length (in). */
    record Matrix(String name, long out, long in) {
        static boolean factorized(String name) {
            int b = TensorNames.blockOf(name);
            return b >= 0 && TensorNames.blockMatrices(b).contains(name);
        }
    }

    private RankFit() {
    }

    static void check(String at, Map<String, String> given, Map<String, ParamSpec> specs, List<Matrix> matrices) throws JobRejected {
        if (!specs.containsKey(RANK) || !specs.containsKey(BUDGET)) return;
        for (String param : new String[]{RANK, BUDGET}) {
            if (!given.containsKey(param)) continue;
            String field = at + "." + param, value = given.get(param).trim();
            double v;
            try {
                v = Double.parseDouble(value);
            } catch (NumberFormatException e) {
                throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": '" + value + "' is not a number");
            }
            for (Matrix m : matrices) {
                if (!Matrix.factorized(m.name())) continue;
                if (param.equals(RANK) && v > Math.min(m.in(), m.out())) {
                    throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": " + value + " is larger than the rank of " + m.name()
                            + " (" + m.out() + " x " + m.in() + ", at most " + Math.min(m.in(), m.out()) + ")");
                }
                if (param.equals(BUDGET) && Math.floor(v * m.in() * (double) m.out() / (m.in() + m.out()) + 1e-9) < 1) {
                    throw new JobRejected(Status.Code.INVALID_ARGUMENT, String.format(Locale.ROOT,
                            "%s: %s leaves rank 0 for %s (%d x %d needs at least %.4g for rank 1)",
                            field, value, m.name(), m.out(), m.in(), (m.in() + m.out()) / ((double) m.in() * m.out())));
                }
            }
        }
    }
}
