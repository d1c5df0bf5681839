package io.shardwise.pruner;

import io.shardwise.core.model.TensorNames;
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

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Stage method {@code magnitude}: {@link MagnitudePruning} on a block's matrices (attention and MLP weights);
 * norms, the embedding and the head are never pruned.
 */
@ApplicationScoped
public class MagnitudeTechnique implements ShardTechnique {
    /** Types whose grid holds an exact 0, so pruned weights stay zero when stored back in the input's type. */
    private static final Set<TensorType> ZERO_EXACT = Set.of(GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0);

    @Override
    public StageKind kind() {
        return StageKind.PRUNE;
    }

    @Override
    public String method() {
        return "magnitude";
    }

    @Override
    public Technique describe() {
        return Technique.newBuilder().setMethod(method()).setKind(kind())
                .setDescription("magnitude pruning (Han et al. 2015): zero the smallest |w| per matrix, unstructured or N:M (e.g. 2:4)")
                .addParams(ParamSpec.newBuilder().setName("sparsity").setDefaultValue("0.5").setMin(0).setMax(PruneSettings.MAX_SPARSITY)
                        .setDescription("fraction of each matrix to zero, in [0, 1) (unstructured only; N:M implies (M-N)/M)"))
                .addParams(ParamSpec.newBuilder().setName("pattern").setDefaultValue("unstructured").addAllAllowed(NmSparsity.allowedPatterns())
                        .setDescription("'unstructured', or N:M with N < M <= " + NmSparsity.MAX_M + ": keep N of every M consecutive weights of a row (e.g. 2:4)"))
                .build();
    }

    @Override
    public ShardOutput apply(ShardInput input) {
        MagnitudePruning.Pattern pattern = parse(input.param("pattern", "unstructured"), input.param("sparsity", "0.5"));
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        long zeros = 0, elements = 0;
        for (Tensor t : input.tensors().values()) {
            if (!isBlockMatrix(t)) continue;
            float[] w = t.toFloats();
            MagnitudePruning.Result r = MagnitudePruning.prune(w, t.cols(), pattern);
            if (r.denseTail() > 0) notes.add(t.name() + ": row " + t.cols() + " % " + ((MagnitudePruning.NOfM) pattern).m() + " != 0, last " + t.cols() % ((MagnitudePruning.NOfM) pattern).m() + " weights of each row left dense");
            TensorType type = ZERO_EXACT.contains(t.type()) ? t.type() : GgmlType.F32;
            if (type != t.type()) notes.add(t.name() + ": " + t.type().typeName() + " cannot hold exact zeros, stored as F32");
            out.put(t.name(), TensorCodecs.quantize(t.name(), t.shape(), w, type));
            zeros += r.zeros();
            elements += w.length;
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("zeros", (double) zeros);
        stats.put("elements", (double) elements);
        stats.put("pruned_tensors", (double) out.size());
        return new ShardOutput(out, stats, notes);
    }

    static boolean isBlockMatrix(Tensor t) {
        int block = TensorNames.blockOf(t.name());
        return block >= 0 && t.shape().length == 2 && TensorNames.blockMatrices(block).contains(t.name());
    }

    static MagnitudePruning.Pattern parse(String pattern, String sparsity) {
        double s;
        try {
            s = Double.parseDouble(sparsity.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("magnitude: params.sparsity '" + sparsity + "' is not a number");
        }
        try {
            return MagnitudePruning.parse(pattern, s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("magnitude: params." + (e.getMessage().startsWith("sparsity") ? "sparsity" : "pattern") + ": " + e.getMessage());
        }
    }
}
