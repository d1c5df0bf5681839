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

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What the low-rank techniques share: every linear weight of a block (attention q/k/v/o, MLP gate/up/down; never
 * the embedding, the head or a norm) becomes {@code <base>.weight.lora_a} [in, rank] and {@code .lora_b} [rank, out]
 * in {@code factor_type}; SVD and ASVD drop the weight (y = B (A x)), LoRC keeps it quantized (y = Q(W) x + B (A x)).
 * A layer whose factors would hold at least as many parameters as the weight stays dense (noted). Bad parameters
 * and a rank that does not fit a layer are refused before any work, naming the parameter.
 */
abstract class LowRankTechnique implements ShardTechnique {
    static final String FACTOR_TYPE = "factor_type";
    static final List<TensorType> FACTOR_TYPES = List.of(GgmlType.F16, GgmlType.F32, GgmlType.BF16);

    /** One layer's result: its factors, and the weight kept beside them (null: the weight is dropped). */
    record Layer(LowRankFactors factors, Tensor kept) {
    }

    /**
     * A factorized shard: the output tensors, the weights the factors replace, stats and notes; {@code dense}: each
     * factorized layer's function as one F32 weight (B A, plus Q(W) for LoRC, from the stored factor values), what a
     * calibrated stage hands the next block and what tests compare the two-matmul runtime with.
     */
    record Factorized(Map<String, Tensor> tensors, List<String> removed, Map<String, Tensor> dense, Map<String, Double> stats,
                      List<String> notes, String activations) {
        Factorized withActivations(String digest) {
            return new Factorized(tensors, removed, dense, stats, notes, digest);
        }
    }

    /** The shard's factors (the work of {@link #apply}). */
    abstract Factorized factorize(ShardInput input) throws Exception;

    @Override
    public ShardOutput apply(ShardInput input) throws Exception {
        Factorized f = factorize(input);
        return new ShardOutput(f.tensors(), f.stats(), f.notes(), f.activations(), "");
    }

    abstract String description();

    /** The method's own parameters (besides rank, energy, budget and factor_type). */
    abstract List<ParamSpec> ownParams();

    /** The budget when the stage sets none of rank, energy, budget. */
    double defaultBudget() {
        return RankSelection.DEFAULT_BUDGET;
    }

    /** Whether the factors replace the weight (SVD, ASVD) or sit beside it (LoRC). */
    abstract boolean replacesWeight();

    @Override
    public StageKind kind() {
        return StageKind.PRUNE;
    }

    @Override
    public Technique describe() {
        Technique.Builder t = Technique.newBuilder().setMethod(method()).setKind(kind()).setDescription(description());
        RankSelection.paramSpecs(defaultBudget()).forEach(t::addParams);
        ParamSpec.Builder ft = ParamSpec.newBuilder().setName(FACTOR_TYPE).setDefaultValue(GgmlType.F16.typeName())
                .setDescription("type of the factors lora_a and lora_b");
        FACTOR_TYPES.forEach(x -> ft.addAllowed(x.typeName()));
        t.addParams(ft);
        ownParams().forEach(t::addParams);
        return t.build();
    }

    /** The stage's rank rule; refused naming the parameter. */
    RankSelection rule(Map<String, String> params) {
        return RankSelection.parse(method(), params, defaultBudget());
    }

    TensorType factorType(Map<String, String> params) {
        String v = params.getOrDefault(FACTOR_TYPE, GgmlType.F16.typeName()).trim();
        for (TensorType t : FACTOR_TYPES) if (t.typeName().equalsIgnoreCase(v)) return t;
        throw new IllegalArgumentException(method() + ": params." + FACTOR_TYPE + " '" + v + "' is not one of " + FACTOR_TYPES.stream().map(TensorType::typeName).toList());
    }

    /** The shard's block matrices, after checking the rule fits each (out x in = rows x cols). */
    List<Tensor> matrices(ShardInput input, RankSelection rule) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : input.tensors().values()) {
            if (!MagnitudeTechnique.isBlockMatrix(t)) continue;
            if (input.tensors().containsKey(TensorNames.loraA(t.name()))) {
                throw new IllegalArgumentException(method() + ": " + t.name() + " already has low-rank factors; factorize a model once");
            }
            rule.check(method(), t.name(), t.cols(), t.rows());
            out.add(t);
        }
        return out;
    }

    /** Writes each layer's factors (or the dense weight where factors would not be smaller), with stats and notes. */
    Factorized assemble(List<Tensor> matrices, Map<String, Layer> layers, TensorType factorType) {
        Map<String, Tensor> out = new LinkedHashMap<>(), denseOut = new LinkedHashMap<>();
        List<String> removed = new ArrayList<>(), notes = new ArrayList<>();
        long weights = 0, kept = 0, rankSum = 0;
        int factorized = 0, dense = 0;
        double relError = 0;
        for (Tensor t : matrices) {
            Layer l = layers.get(t.name());
            LowRankFactors f = l.factors();
            long params = (long) t.cols() * t.rows();
            weights += params;
            if (replacesWeight() && f.parameters() >= params) {
                dense++;
                kept += params;
                notes.add(String.format(Locale.ROOT, "%s: rank %d would hold %d parameters, the weight holds %d: kept dense", t.name(), f.rank(), f.parameters(), params));
                continue;
            }
            Tensor a = TensorCodecs.quantize(TensorNames.loraA(t.name()), new long[]{f.in(), f.rank()}, f.a(), factorType);
            Tensor b = TensorCodecs.quantize(TensorNames.loraB(t.name()), new long[]{f.rank(), f.out()}, f.b(), factorType);
            float[] w = t.toFloats();
            float[] approx = new LowRankFactors(f.out(), f.in(), f.rank(), a.toFloats(), b.toFloats(), f.sigma()).product();
            if (l.kept() != null) {
                float[] q = TensorCodecs.dequantize(l.kept());
                for (int i = 0; i < approx.length; i++) approx[i] += q[i];
            }
            double err = 0, norm = 0;
            for (int i = 0; i < w.length; i++) {
                err += ((double) w[i] - approx[i]) * ((double) w[i] - approx[i]);
                norm += (double) w[i] * w[i];
            }
            relError += norm > 0 ? err / norm : 0;
            out.put(a.name(), a);
            out.put(b.name(), b);
            denseOut.put(t.name(), Tensor.ofFloats(t.name(), t.shape(), approx));
            if (l.kept() != null) out.put(t.name(), l.kept());
            else removed.add(t.name());
            factorized++;
            rankSum += f.rank();
            kept += f.parameters() + (l.kept() != null ? params : 0);
            notes.add(String.format(Locale.ROOT, "%s: rank %d of %d, relative error %.5f", t.name(), f.rank(), Math.min(t.cols(), t.rows()), norm > 0 ? err / norm : 0));
        }
        Map<String, Double> s = new LinkedHashMap<>();
        s.put("factorized_tensors", (double) factorized);
        s.put("dense_tensors", (double) dense);
        s.put("rank_sum", (double) rankSum);
        s.put("weight_params", (double) weights);
        s.put("kept_params", (double) kept);
        s.put("relative_error_sum", relError);
        return new Factorized(out, removed, denseOut, s, notes, "");
    }
}
