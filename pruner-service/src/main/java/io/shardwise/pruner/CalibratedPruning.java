package io.shardwise.pruner;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the calibrated pruning techniques share: the plan shard (OWL's layer sparsities), one statistic per distinct
 * linear input of the block (q/k/v share one, gate/up share one) from the calibration windows, the method on each
 * block matrix at its layer's sparsity, and in sequential mode (the default, as both papers prune layer by layer)
 * the pruned block's outputs stored for the next block. The embedding and the head are not pruned.
 */
abstract class CalibratedPruning<S> implements ShardTechnique {
    static final String PLAN_SHARD = "plan";
    private final TextDatasets texts;

    CalibratedPruning(TextDatasets texts) {
        this.texts = texts;
    }

    /** A fresh accumulator for inputs of width {@code n}. */
    abstract S newStatistic(int n);

    abstract void add(S statistic, float[] x, int off, int T, int n);

    /** The method on one matrix ({@code params} are the stage's, already checked by {@link #check}). */
    abstract Pruned prune(Tensor t, S statistic, MagnitudePruning.Pattern pattern, Map<String, String> params, Arena arena);

    /** Checks the method's own parameters (before any calibration work). */
    abstract void check(Map<String, String> params);

    abstract String description();

    abstract List<ParamSpec> ownParams();

    /** One pruned matrix, its zeros, the weights left dense at N:M row ends, and notes. */
    record Pruned(Tensor tensor, long zeros, long denseTail, List<String> notes) {
    }

    @Override
    public StageKind kind() {
        return StageKind.PRUNE;
    }

    @Override
    public Technique describe() {
        Technique.Builder t = Technique.newBuilder().setMethod(method()).setKind(kind()).setDescription(description());
        PruneSettings.paramSpecs().forEach(t::addParams);
        ownParams().forEach(t::addParams);
        CalibrationSpec.paramSpecs(CalibrationMode.SEQUENTIAL).forEach(t::addParams);
        return t.build();
    }

    @Override
    public ShardOutput apply(ShardInput input) throws Exception {
        Map<String, String> params = input.stage().getParamsMap();
        PruneSettings settings = PruneSettings.parse(method(), params);
        check(params);
        CalibrationSpec spec;
        try {
            spec = CalibrationSpec.fromParams(params, CalibrationMode.SEQUENTIAL);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(method() + ": params." + e.getMessage(), e);
        }
        String shard = input.shard().getShardId();
        if (shard.equals(PLAN_SHARD)) return plan(input, spec, settings);
        List<String> matrices = input.tensors().values().stream().filter(MagnitudeTechnique::isBlockMatrix).map(Tensor::name).toList();
        if (matrices.isEmpty()) return new ShardOutput(Map.of(), Map.of("pruned_tensors", 0.0), List.of(shard + ": no block matrix to prune"));
        int layer = TensorNames.blockOf(matrices.getFirst());
        MagnitudePruning.Pattern pattern = settings.pattern();
        if (settings.schedule() == PruneSettings.Schedule.OWL) {
            if (input.plan().isEmpty()) throw new IllegalArgumentException(method() + ": params.schedule owl needs the stage's plan shard, and shard " + shard + " has no plan");
            OwlPlan plan = OwlPlan.load(input.store().blobs(), input.plan());
            if (layer >= plan.sparsity().length) throw new IllegalArgumentException("plan blob " + input.plan() + " has no layer " + layer);
            pattern = new MagnitudePruning.Unstructured(plan.sparsity()[layer]);
        }
        BlockCalibration cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
        Map<String, S> stats = new ConcurrentHashMap<>();
        Map<String, String> inputOf = new ConcurrentHashMap<>();
        cal.observe((Linear[] ws, float[] x, int off, int T, int n) -> {
            if (ws.length == 0 || java.util.Arrays.stream(ws).noneMatch(w -> matrices.contains(w.name()))) return;
            S st = stats.computeIfAbsent(ws[0].name(), k -> newStatistic(n));
            for (Linear w : ws) inputOf.put(w.name(), ws[0].name());
            add(st, x, off, T, n);
        });
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        long zeros = 0, elements = 0;
        for (String name : matrices) {
            Tensor t = input.tensors().get(name);
            String key = inputOf.get(name);
            if (key == null) throw new IllegalStateException(method() + ": no calibration input reached " + name);
            input.progress().report(0.5, method() + " " + name);
            Pruned p = prune(t, stats.get(key), pattern, params, input.arena());
            out.put(name, p.tensor());
            notes.addAll(p.notes());
            if (p.denseTail() > 0) notes.add(name + ": row " + t.cols() + " is not a multiple of M, last " + p.denseTail() / t.rows() + " weights of each row left dense");
            zeros += p.zeros();
            elements += t.elements();
        }
        Map<String, Double> s = new LinkedHashMap<>();
        s.put("zeros", (double) zeros);
        s.put("elements", (double) elements);
        s.put("pruned_tensors", (double) out.size());
        if (pattern instanceof MagnitudePruning.Unstructured u) s.put("layer_sparsity", u.sparsity());
        String next = spec.mode() == CalibrationMode.SEQUENTIAL ? cal.storeOutputs(out) : "";
        return new ShardOutput(out, s, notes, next, "");
    }

    /** The plan shard: OWL's layer sparsities (a uniform plan when the stage set schedule uniform). */
    private ShardOutput plan(ShardInput input, CalibrationSpec spec, PruneSettings settings) throws Exception {
        int layers = input.store().load(input.inputDigest(), input.arena()).config().nLayers();
        OwlPlan plan = settings.schedule() == PruneSettings.Schedule.OWL
                ? OwlPlan.measure(input, spec, texts.resolve(spec.dataset()), settings)
                : OwlPlan.uniform(layers, settings.sparsity());
        String digest = plan.store(input.store().blobs());
        Map<String, Double> s = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        for (int l = 0; l < plan.sparsity().length; l++) {
            s.put("sparsity_layer_" + l, plan.sparsity()[l]);
            notes.add(String.format(java.util.Locale.ROOT, "layer %d: outlier ratio %.5f -> sparsity %.4f", l, plan.outlierRatio()[l], plan.sparsity()[l]));
        }
        return new ShardOutput(Map.of(), s, notes, "", digest);
    }
}
