package io.shardwise.pruner;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LowRankPairs;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Stage method {@code attention_heads}: {@link AttentionHeadPruning} on each block, the same number of GQA groups in
 * every layer so the config keeps one n_heads/n_kv_heads (the store's derive takes them from the attn_q/attn_k shapes;
 * head_dim stays). The output block is physically smaller: attn_q/attn_k/attn_v (and their biases) lose rows (bytes
 * copied, any type), attn_output loses columns (kept F32/F16/BF16, other types stored F32). Embedding and head shards pass through.
 */
@Singleton
public class AttentionHeadTechnique implements ShardTechnique {
    static final String METHOD = "attention_heads", RATIO = "ratio", IMPORTANCE = "importance", ACTIVATION = "activation", FIRST_ORDER = "first_order";
    private static final Set<TensorType> FLOAT = Set.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16);
    private final TextDatasets texts;

    @Inject
    public AttentionHeadTechnique(TextDatasets texts) {
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
                .setDescription("Structured attention-head pruning (LLM-Pruner head groups, Ma et al. 2023) in whole GQA groups (a kv head with its query heads) scored by ||O_h|| * ||W_o[:, h]||: removes the same number of groups in every layer; the model gets smaller");
        t.addParams(ParamSpec.newBuilder().setName(RATIO).setDefaultValue("0.25").setMin(0).setMax(PruneSettings.MAX_SPARSITY)
                .setDescription("share of each layer's attention heads removed, in [0, 1), rounded to whole kv head groups; one that rounds to every group is refused").build());
        t.addParams(ParamSpec.newBuilder().setName(IMPORTANCE).setDefaultValue(ACTIVATION).addAllowed(ACTIVATION).addAllowed(FIRST_ORDER).setNeedsPlan(true)
                .setDescription("group score: activation (||O_h|| * ||W_o[:, h]||, per block) or first_order (LLM-Pruner's |dL/dW * W| summed over the group; a plan shard backpropagates the whole input model over the calibration windows in fp32)").build());
        CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT).forEach(t::addParams);
        return t.build();
    }

    static double ratio(Map<String, String> params) {
        String v = params.getOrDefault(RATIO, "0.25").trim();
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params.ratio '" + v + "' is not a number");
        }
    }

    @Override
    public ShardOutput apply(ShardInput input) throws Exception {
        Map<String, String> params = input.stage().getParamsMap();
        double ratio = ratio(params);
        String shard = input.shard().getShardId();
        CalibrationSpec spec;
        try {
            spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(METHOD + ": params." + e.getMessage(), e);
        }
        String importance = params.getOrDefault(IMPORTANCE, ACTIVATION).trim();
        if (!importance.equals(ACTIVATION) && !importance.equals(FIRST_ORDER)) {
            throw new IllegalArgumentException(METHOD + ": params.importance '" + importance + "' is not one of " + ACTIVATION + ", " + FIRST_ORDER);
        }
        boolean firstOrder = importance.equals(FIRST_ORDER);
        if (firstOrder && spec.mode() == CalibrationMode.SEQUENTIAL) {
            throw new IllegalArgumentException(METHOD + ": params.calib_mode sequential does not apply to params.importance first_order (gradients of the whole input model)");
        }
        if (shard.equals(CalibratedPruning.PLAN_SHARD)) return plan(input, spec, firstOrder);
        int layer = -1;
        for (String n : input.tensors().keySet()) layer = Math.max(layer, TensorNames.blockOf(n));
        if (layer < 0) return new ShardOutput(Map.of(), Map.of("heads_removed", 0.0), List.of(shard + ": no attention to prune"));
        LlamaConfig c = LlamaConfig.fromProto(input.inputManifest().getConfig());
        int heads = c.nHeads(), kvHeads = c.nKvHeads(), hd = c.headDim(), dim = c.dim(), group = heads / kvHeads;
        String qN = TensorNames.attnQ(layer), kN = TensorNames.attnK(layer), vN = TensorNames.attnV(layer), oN = TensorNames.attnOutput(layer);
        for (String n : List.of(qN, kN, vN, oN)) {
            if (input.tensors().get(n) == null || LowRankPairs.hasFactors(input.tensors(), n)) {
                throw new IllegalArgumentException(METHOD + ": shard " + shard + " has no dense " + n + " (head pruning needs the dense attention matrices)");
            }
        }
        int removed;
        try {
            removed = AttentionHeadPruning.removedGroups(ratio, heads, kvHeads);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(METHOD + ": " + e.getMessage() + " (layer " + layer + ")", e);
        }
        Tensor o = input.tensors().get(oN);
        float[] wo = o.toFloats();
        double[] scores;
        BlockCalibration cal = null;
        if (firstOrder) {
            if (input.plan().isEmpty()) throw new IllegalArgumentException(METHOD + ": params.importance first_order needs the stage's plan shard, and shard " + shard + " has no plan");
            double[][] plan = HeadImportancePlan.load(input.store().blobs(), input.plan()).scores();
            if (layer >= plan.length || plan[layer].length != kvHeads) throw new IllegalArgumentException("plan blob " + input.plan() + " has no " + kvHeads + " group scores for layer " + layer);
            scores = plan[layer];
        } else {
            double[] sumSquares = new double[heads];
            cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
            cal.observe((Linear[] ws, float[] x, int off, int T, int n) -> {
                if (ws.length != 1 || !ws[0].name().equals(oN)) return;
                for (int t = 0; t < T; t++) {
                    int base = off + t * n;
                    for (int j = 0; j < n; j++) sumSquares[j / hd] += (double) x[base + j] * x[base + j];
                }
            });
            scores = AttentionHeadPruning.groupScores(sumSquares, wo, dim, heads, kvHeads, hd);
        }
        int[] keptGroups = MlpChannelPruning.keep(scores, removed);
        int[] qRows = AttentionHeadPruning.rows(keptGroups, group * hd), kvRows = AttentionHeadPruning.rows(keptGroups, hd);
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        out.put(qN, MlpChannelTechnique.selectRows(input.tensors().get(qN), qRows, input));
        out.put(kN, MlpChannelTechnique.selectRows(input.tensors().get(kN), kvRows, input));
        out.put(vN, MlpChannelTechnique.selectRows(input.tensors().get(vN), kvRows, input));
        for (String w : List.of(qN, kN, vN)) {
            String bN = w.replace(".weight", ".bias");
            Tensor b = input.tensors().get(bN);
            if (b == null) continue;
            int[] kept = w.equals(qN) ? qRows : kvRows;
            out.put(bN, Tensor.ofFloats(bN, new long[]{kept.length}, AttentionHeadPruning.select(b.toFloats(), kept)));
        }
        TensorType oType = FLOAT.contains(o.type()) ? o.type() : GgmlType.F32;
        if (oType != o.type()) notes.add(oN + ": " + o.type().typeName() + " with " + qRows.length + "-wide rows stored as F32");
        out.put(oN, TensorCodecs.quantize(oN, new long[]{qRows.length, dim}, MlpChannelPruning.selectColumns(wo, dim, c.qDim(), qRows), oType));
        notes.add(String.format(Locale.ROOT, "layer %d: kv head groups %s removed (%d of %d heads, %d of %d kv heads; %s scores %s)", layer,
                Arrays.toString(AttentionHeadPruning.removed(kvHeads, keptGroups)), removed * group, heads, removed, kvHeads, importance, FirstOrderHeadImportance.format(scores)));
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("heads_removed", (double) removed * group);
        stats.put("kv_heads_removed", (double) removed);
        stats.put("params_removed", (double) removed * hd * dim * (2L * group + 2));
        String next = "";
        if (cal != null && spec.mode() == CalibrationMode.SEQUENTIAL) {
            // the input model's block runs at the old shape: zero columns of attn_output compute what the smaller block does
            float[] zeroed = MlpChannelPruning.zeroOtherColumns(wo, dim, c.qDim(), qRows);
            next = cal.storeOutputs(Map.of(oN, Tensor.ofFloats(oN, o.shape(), zeroed)));
        }
        return new ShardOutput(out, stats, notes, next, "");
    }

    /** The plan shard: first-order group scores of every layer stored for the block shards (activation scores need none). */
    private ShardOutput plan(ShardInput input, CalibrationSpec spec, boolean firstOrder) throws Exception {
        if (!firstOrder) { // the runners want a plan from a plan shard: an empty one (activation scores are per block)
            return new ShardOutput(Map.of(), Map.of(), List.of("plan: activation importance is scored per block; the plan is empty"), "",
                    new HeadImportancePlan(new double[0][]).store(input.store().blobs()));
        }
        HeadImportancePlan plan = HeadImportancePlan.measure(input, spec, texts.resolve(spec.dataset()));
        List<String> notes = new ArrayList<>();
        for (int l = 0; l < plan.scores().length; l++) notes.add("layer " + l + ": first-order group scores " + FirstOrderHeadImportance.format(plan.scores()[l]));
        return new ShardOutput(Map.of(), Map.of(), notes, "", plan.store(input.store().blobs()));
    }
}
