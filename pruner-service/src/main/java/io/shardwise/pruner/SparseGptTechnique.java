package io.shardwise.pruner;

import io.shardwise.core.calib.Hessian;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.proto.v1.ParamSpec;
import jakarta.inject.Singleton;
import jakarta.inject.Inject;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Stage method {@code sparsegpt}: {@link SparseGPT} on every block matrix with the {@link Hessian} of its input from
 * the calibration windows. Output F32, or with {@code quantize} int4/int8 the per-channel asymmetric integers of the
 * joint grid (I4_ASYM_CH / I8_ASYM_CH, pruned weights an exact 0).
 */
@Singleton
public class SparseGptTechnique extends CalibratedPruning<Hessian> {
    static final String METHOD = "sparsegpt";

    @Inject
    public SparseGptTechnique(TextDatasets texts) {
        super(texts);
    }

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    String description() {
        return "SparseGPT (Frantar and Alistarh 2023): one-shot pruning with OBS weight updates from calibration Hessians, adaptive masks per block of columns, lazy updates; unstructured or N:M, optionally jointly quantized to a per-channel 4/8-bit grid";
    }

    @Override
    List<ParamSpec> ownParams() {
        return List.of(
                ParamSpec.newBuilder().setName("damp").setDefaultValue("0.01").setMin(0.0001).setMax(1)
                        .setDescription("dampening: this fraction of mean(diag H) is added to H's diagonal (x10 retried when not positive definite)").build(),
                ParamSpec.newBuilder().setName("block_size").setDefaultValue("128").setMin(1).setMax(4096)
                        .setDescription("columns per mask choice and lazy update (rounded down to a multiple of M under N:M)").build(),
                ParamSpec.newBuilder().setName("quantize").setDefaultValue("none").addAllowed("none").addAllowed("int4").addAllowed("int8")
                        .setDescription("joint quantization of the kept weights (the paper's 50% + 4-bit): per-channel asymmetric grid, output I4_ASYM_CH / I8_ASYM_CH").build());
    }

    static SparseGPT.Options options(Map<String, String> p) {
        double damp = PruneSettings.number(METHOD, p, "damp", "0.01");
        double block = PruneSettings.number(METHOD, p, "block_size", "128");
        if (block != Math.rint(block)) throw new IllegalArgumentException(METHOD + ": params.block_size " + p.get("block_size") + " is not a whole number");
        String q = p.getOrDefault("quantize", "none").trim().toLowerCase(Locale.ROOT);
        ChannelIntType grid = switch (q) {
            case "none" -> null;
            case "int4" -> ChannelIntType.I4_ASYM_CH;
            case "int8" -> ChannelIntType.I8_ASYM_CH;
            default -> throw new IllegalArgumentException(METHOD + ": params.quantize '" + q + "' is not none, int4 or int8");
        };
        return new SparseGPT.Options(damp, (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, block)), grid,
                Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    @Override
    void check(Map<String, String> params) {
        options(params);
    }

    @Override
    Hessian newStatistic(int n) {
        return new Hessian(n, Math.max(1, Runtime.getRuntime().availableProcessors()), true);
    }

    @Override
    void add(Hessian h, float[] x, int off, int T, int n) {
        h.add(x, off, T, n);
    }

    @Override
    Pruned prune(Tensor t, Hessian h, MagnitudePruning.Pattern pattern, Map<String, String> params, Arena arena) {
        SparseGPT.Options o = options(params);
        SparseGPT.Result r = SparseGPT.prune(t.name(), t.rows(), t.cols(), t.toFloats(), h.matrix(), pattern, o);
        List<String> notes = new ArrayList<>();
        if (r.dampUsed() != o.damp()) notes.add(t.name() + ": Hessian needed damp " + (float) r.dampUsed());
        Tensor out = r.grid() == null ? Tensor.ofFloats(t.name(), t.shape(), r.weights())
                : r.grid().tensor(t.name(), r.codes(), t.rows(), t.cols(), arena);
        return new Pruned(out, r.zeros(), r.denseTail(), notes);
    }
}
