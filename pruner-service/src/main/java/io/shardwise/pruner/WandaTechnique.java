package io.shardwise.pruner;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.proto.v1.ParamSpec;
import jakarta.inject.Singleton;
import jakarta.inject.Inject;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Stage method {@code wanda}: {@link Wanda} on every block matrix with its input's norms from the calibration
 * windows; pruned matrices keep their type when it holds exact zeros (F32, F16, Q8_0, Q4_0), else become F32.
 */
@Singleton
public class WandaTechnique extends CalibratedPruning<InputNorms> {
    static final String METHOD = "wanda";
    private static final Set<TensorType> ZERO_EXACT = Set.of(GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0);

    @Inject
    public WandaTechnique(TextDatasets texts) {
        super(texts);
    }

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    String description() {
        return "Wanda (Sun et al. 2023): zero the weights of smallest |W_ij| * ||X_j|| per output row, X the calibration inputs; unstructured or N:M, uniform or OWL layer sparsities";
    }

    @Override
    List<ParamSpec> ownParams() {
        return List.of();
    }

    @Override
    void check(Map<String, String> params) {
    }

    @Override
    InputNorms newStatistic(int n) {
        return new InputNorms(n);
    }

    @Override
    void add(InputNorms s, float[] x, int off, int T, int n) {
        s.add(x, off, T, n);
    }

    @Override
    Pruned prune(Tensor t, InputNorms s, MagnitudePruning.Pattern pattern, Map<String, String> params, Arena arena) {
        float[] w = t.toFloats();
        MagnitudePruning.Result r = Wanda.prune(w, t.rows(), t.cols(), s.sumSquares(), pattern);
        TensorType type = ZERO_EXACT.contains(t.type()) ? t.type() : GgmlType.F32;
        List<String> notes = type == t.type() ? List.of() : List.of(t.name() + ": " + t.type().typeName() + " cannot hold exact zeros, stored as F32");
        return new Pruned(TensorCodecs.quantize(t.name(), t.shape(), w, type), r.zeros(), r.denseTail(), notes);
    }
}
