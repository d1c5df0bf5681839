package io.shardwise.pruner;

import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * Stage method {@code shortgpt}: {@link ShortGpt} layer removal as a stage. Its plan shard (always run: both of its
 * size parameters need the plan) measures every block's influence on the calibration text and picks the lowest;
 * a block shard whose block the plan picked removes all its tensors ({@link ShardOutput#removed}), so the stage's
 * output manifest has fewer blocks, renumbered, and a lower n_layers. Other shards pass through.
 */
@Singleton
public class ShortGptTechnique implements ShardTechnique {
    static final String METHOD = "shortgpt", LAYERS = "layers", RATIO = "ratio";
    private final TextDatasets texts;

    @Inject
    public ShortGptTechnique(TextDatasets texts) {
        this.texts = texts;
    }

    @Override
    public StageKind kind() {
        return StageKind.PRUNE;
    }

    @Override
    public String method() {
        return METHOD;
    }

    @Override
    public Technique describe() {
        Technique.Builder t = Technique.newBuilder().setMethod(METHOD).setKind(kind())
                .setDescription("ShortGPT layer removal (Men et al. 2024): removes the blocks of lowest block influence 1 - cos(x_in, x_out) on calibration text; the model loses whole blocks (n_layers drops)");
        t.addParams(ParamSpec.newBuilder().setName(LAYERS).setMin(1).setMax(4096).setNeedsPlan(true)
                .setDescription("number of blocks to remove (fewer than the model has); give this or ratio").build());
        t.addParams(ParamSpec.newBuilder().setName(RATIO).setMin(0).setMax(PruneSettings.MAX_SPARSITY).setNeedsPlan(true)
                .setDescription("share of the blocks to remove, rounded to a count (fewer than the model has); give this or layers").build());
        // the influence is measured once on the input model: there is no per-block calibration to chain
        CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT).stream().filter(p -> !p.getName().equals(CalibrationSpec.MODE)).forEach(t::addParams);
        return t.build();
    }

    /** How many of {@code blocks} the stage removes: {@code layers}, or {@code ratio} rounded; one of them, leaving a block. */
    static int removedCount(Map<String, String> params, int blocks) {
        boolean byCount = params.containsKey(LAYERS), byRatio = params.containsKey(RATIO);
        if (byCount == byRatio) {
            throw new IllegalArgumentException(METHOD + ": params." + LAYERS + (byCount ? " and params.ratio are both given (give one)"
                    : ": missing (the number of blocks to remove; or give ratio)"));
        }
        if (byRatio) {
            String v = params.get(RATIO).trim();
            try {
                return ShortGpt.removedCount(Double.parseDouble(v), blocks);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(METHOD + ": params.ratio '" + v + "' is not a number");
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(METHOD + ": " + e.getMessage(), e);
            }
        }
        String v = params.get(LAYERS).trim();
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params.layers '" + v + "' is not a whole number");
        }
        if (n < 1) throw new IllegalArgumentException(METHOD + ": params.layers " + n + " is below 1");
        if (n >= blocks) throw new IllegalArgumentException(METHOD + ": params.layers " + n + " would remove every block of the model's " + blocks + " (at most " + (blocks - 1) + ")");
        return n;
    }

    @Override
    public ShardOutput apply(ShardInput input) throws Exception {
        Map<String, String> params = input.stage().getParamsMap();
        if (params.containsKey(CalibrationSpec.MODE)) {
            throw new IllegalArgumentException(METHOD + ": params.calib_mode is not a parameter of " + METHOD + " (block influence runs the whole input model once)");
        }
        int blocks = input.inputManifest().getConfig().getNLayers();
        int count = removedCount(params, blocks);
        CalibrationSpec spec;
        try {
            spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(METHOD + ": params." + e.getMessage(), e);
        }
        String shard = input.shard().getShardId();
        if (shard.equals(CalibratedPruning.PLAN_SHARD)) return plan(input, spec, count);
        if (input.plan().isEmpty()) throw new IllegalArgumentException(METHOD + ": shard " + shard + " has no plan (the stage's plan shard picks the blocks to remove)");
        ShortGptPlan plan = ShortGptPlan.load(input.store().blobs(), input.plan());
        if (plan.influence().length != blocks) {
            throw new IllegalArgumentException("plan blob " + input.plan() + " has " + plan.influence().length + " blocks, the input model " + blocks);
        }
        TreeSet<Integer> own = new TreeSet<>();
        for (String n : input.shard().getTensorsList()) if (TensorNames.blockOf(n) >= 0) own.add(TensorNames.blockOf(n));
        List<String> gone = input.shard().getTensorsList().stream().filter(n -> TensorNames.blockOf(n) >= 0 && plan.removes(TensorNames.blockOf(n))).toList();
        if (gone.isEmpty()) return new ShardOutput(Map.of(), Map.of("blocks_removed", 0.0), List.of());
        long params0 = gone.stream().mapToLong(n -> input.tensors().get(n).elements()).sum();
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("blocks_removed", (double) own.stream().filter(plan::removes).count());
        stats.put("params_removed", (double) params0);
        List<String> notes = new ArrayList<>();
        for (int b : own) if (plan.removes(b)) notes.add(String.format(Locale.ROOT, "block %d removed (block influence %.5f)", b, plan.influence()[b]));
        return ShardOutput.removing(gone, stats, notes);
    }

    /** The plan shard: every block's influence and the {@code count} lowest, stored for the stage's other shards. */
    private ShardOutput plan(ShardInput input, CalibrationSpec spec, int count) throws Exception {
        ShortGptPlan plan = ShortGptPlan.measure(input, spec, texts.resolve(spec.dataset()), count);
        String digest = plan.store(input.store().blobs());
        Map<String, Double> s = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        for (int l = 0; l < plan.influence().length; l++) {
            s.put("influence_block_" + l, plan.influence()[l]);
            notes.add(String.format(Locale.ROOT, "block %d: influence %.5f%s", l, plan.influence()[l], plan.removes(l) ? " -> removed" : ""));
        }
        notes.add(count + " of " + plan.influence().length + " blocks removed: " + java.util.Arrays.toString(plan.removed()));
        return new ShardOutput(Map.of(), s, notes, "", digest);
    }
}
