package io.shardwise.pruner;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
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

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Stage method {@code mlp_channels}: {@link MlpChannelPruning} on each block, the same channel count in every layer so
 * the config keeps one feed_forward_length (the store's derive takes the new length from the ffn_gate shapes). The
 * output block is physically smaller: ffn_gate/ffn_up lose rows (bytes copied, any type), ffn_down loses columns
 * (kept F32/F16/BF16, other types stored F32). Embedding and head shards pass through.
 */
@Singleton
public class MlpChannelTechnique implements ShardTechnique {
    static final String METHOD = "mlp_channels", RATIO = "ratio", MULTIPLE_OF = "multiple_of";
    private static final Set<TensorType> FLOAT = Set.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16);
    private final TextDatasets texts;

    @Inject
    public MlpChannelTechnique(TextDatasets texts) {
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
                .setDescription("Structured MLP channel pruning (LLM-Pruner channel groups, Ma et al. 2023) scored by ||X_j|| * ||W_down[:, j]||: removes the same share of FFN channels in every layer; the model gets smaller");
        t.addParams(ParamSpec.newBuilder().setName(RATIO).setDefaultValue("0.25").setMin(0).setMax(PruneSettings.MAX_SPARSITY)
                .setDescription("share of each layer's FFN channels removed, in [0, 1); one that rounds to every channel is refused").build());
        t.addParams(ParamSpec.newBuilder().setName(MULTIPLE_OF).setDefaultValue("1").setMin(1).setMax(4096)
                .setDescription("the kept channel count is rounded down to a multiple of this (32 lets ffn_down's rows fit Q4_0/Q8_0 blocks)").build());
        CalibrationSpec.paramSpecs(CalibrationMode.INDEPENDENT).forEach(t::addParams);
        return t.build();
    }

    static int multipleOf(Map<String, String> params) {
        String v = params.getOrDefault(MULTIPLE_OF, "1").trim();
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(METHOD + ": params.multiple_of '" + v + "' is not a whole number");
        }
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
        int multipleOf = multipleOf(params);
        String shard = input.shard().getShardId();
        CalibrationSpec spec;
        try {
            spec = CalibrationSpec.fromParams(params, CalibrationMode.INDEPENDENT);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(METHOD + ": params." + e.getMessage(), e);
        }
        int layer = -1;
        for (String n : input.tensors().keySet()) layer = Math.max(layer, TensorNames.blockOf(n));
        if (layer < 0) return new ShardOutput(Map.of(), Map.of("channels_removed", 0.0), List.of(shard + ": no MLP to prune"));
        String gateN = TensorNames.ffnGate(layer), upN = TensorNames.ffnUp(layer), downN = TensorNames.ffnDown(layer);
        Tensor gate = input.tensors().get(gateN), up = input.tensors().get(upN), down = input.tensors().get(downN);
        for (String n : List.of(gateN, upN, downN)) {
            if (input.tensors().get(n) == null || LowRankPairs.hasFactors(input.tensors(), n)) {
                throw new IllegalArgumentException(METHOD + ": shard " + shard + " has no dense " + n + " (channel pruning needs the dense FFN matrices)");
            }
        }
        int hidden = down.cols(), dim = down.rows();
        int removed;
        try {
            removed = MlpChannelPruning.removedCount(ratio, hidden, multipleOf);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(METHOD + ": " + e.getMessage() + " (layer " + layer + ")", e);
        }
        double[] sumSquares = new double[hidden];
        BlockCalibration cal = BlockCalibration.open(input, spec, texts.resolve(spec.dataset()));
        cal.observe((Linear[] ws, float[] x, int off, int T, int n) -> {
            if (ws.length != 1 || !ws[0].name().equals(downN)) return;
            for (int t = 0; t < T; t++) {
                int base = off + t * n;
                for (int j = 0; j < n; j++) sumSquares[j] += (double) x[base + j] * x[base + j];
            }
        });
        float[] w2 = down.toFloats();
        int[] kept = MlpChannelPruning.keep(MlpChannelPruning.scores(sumSquares, w2, dim, hidden), removed);
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> notes = new ArrayList<>();
        out.put(gateN, selectRows(gate, kept, input));
        out.put(upN, selectRows(up, kept, input));
        TensorType downType = FLOAT.contains(down.type()) ? down.type() : GgmlType.F32;
        if (downType != down.type()) notes.add(downN + ": " + down.type().typeName() + " with " + kept.length + "-wide rows stored as F32");
        out.put(downN, TensorCodecs.quantize(downN, new long[]{kept.length, dim}, MlpChannelPruning.selectColumns(w2, dim, hidden, kept), downType));
        notes.add(String.format(java.util.Locale.ROOT, "layer %d: %d of %d MLP channels removed", layer, removed, hidden));
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("channels_removed", (double) removed);
        stats.put("params_removed", (double) removed * 3L * dim);
        String next = "";
        if (spec.mode() == CalibrationMode.SEQUENTIAL) {
            // the input model's block runs at the old shape: zero columns of ffn_down compute what the smaller block does
            float[] zeroed = MlpChannelPruning.zeroOtherColumns(w2, dim, hidden, kept);
            next = cal.storeOutputs(Map.of(downN, Tensor.ofFloats(downN, down.shape(), zeroed)));
        }
        return new ShardOutput(out, stats, notes, next, "");
    }

    /** Rows {@code kept} of a matrix, their bytes copied (a row is whole blocks in every type). */
    static Tensor selectRows(Tensor t, int[] kept, ShardInput input) {
        long rowBytes = t.type().byteSize(new long[]{t.cols()});
        MemorySegment dst = input.arena().allocate(rowBytes * kept.length, 32);
        for (int i = 0; i < kept.length; i++) MemorySegment.copy(t.data(), kept[i] * rowBytes, dst, i * rowBytes, rowBytes);
        return new Tensor(t.name(), t.type(), new long[]{t.cols(), kept.length}, dst);
    }
}
