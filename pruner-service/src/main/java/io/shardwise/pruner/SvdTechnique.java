package io.shardwise.pruner;

import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.work.ShardInput;
import io.shardwise.proto.v1.ParamSpec;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Stage method {@code svd}: {@link TruncatedSvd} on every block matrix, each replaced by its two factors. */
@ApplicationScoped
public class SvdTechnique extends LowRankTechnique {
    static final String METHOD = "svd";

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    String description() {
        return "truncated SVD (Eckart-Young): every block matrix W becomes B A = U_r Sigma_r V_r^T (lora_a, lora_b; the weight is dropped), rank by rank, energy or parameter budget";
    }

    @Override
    List<ParamSpec> ownParams() {
        return List.of();
    }

    @Override
    boolean replacesWeight() {
        return true;
    }

    @Override
    Factorized factorize(ShardInput input) {
        Map<String, String> params = input.stage().getParamsMap();
        RankSelection rule = rule(params);
        TensorType type = factorType(params);
        List<Tensor> matrices = matrices(input, rule);
        Map<String, Layer> layers = new LinkedHashMap<>();
        for (Tensor t : matrices) {
            input.progress().report((double) layers.size() / matrices.size(), "svd " + t.name());
            layers.put(t.name(), new Layer(TruncatedSvd.factorize(t.toFloats(), t.rows(), t.cols(), rule), null));
        }
        return assemble(matrices, layers, type);
    }
}
