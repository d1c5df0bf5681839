package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.recipe.RecipeStage;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;

import io.shardwise.core.model.TensorNames;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Submit-time check of a structured pruning stage's {@code ratio} against the model's shapes: {@code attention_heads}
 * removes round(ratio * n_kv_heads) whole GQA groups per layer and {@code mlp_channels} keeps
 * (hidden - round(ratio * hidden)) rounded down to {@code multiple_of} channels (the pruner's AttentionHeadPruning and
 * MlpChannelPruning rules); a ratio that would leave a layer no head or no channel is refused naming the field,
 * instead of failing in the pruner at run time. The stages after it are checked against the shapes it leaves
 * ({@link #rowLengths}, {@link #blockShapes}): attn_output and ffn_down get narrower rows, attn_q/k/v and ffn_gate/up fewer.
 */
final class StructuredRatio {
    static final String HEADS = "attention_heads", CHANNELS = "mlp_channels", RATIO = "ratio", MULTIPLE_OF = "multiple_of";

    private StructuredRatio() {
    }

    /** The model's config after the stage (lower head counts or feed_forward_length), or refused naming the field. */
    static LlamaConfig check(String at, RecipeStage stage, Map<String, ParamSpec> specs, LlamaConfig c) throws JobRejected {
        if (stage.kind() != StageKind.PRUNE || !(HEADS.equals(stage.method()) || CHANNELS.equals(stage.method()))) return c;
        double ratio = number(at + "." + RATIO, value(RATIO, stage.params(), specs, "0.25"));
        if (!(ratio >= 0 && ratio < 1)) throw refused(at + "." + RATIO + ": " + stage.params().get(RATIO) + " is outside [0, 1)");
        if (HEADS.equals(stage.method())) {
            long removed = Math.round(ratio * c.nKvHeads());
            if (removed >= c.nKvHeads()) {
                throw refused(at + "." + RATIO + ": " + stage.params().get(RATIO) + " would remove every attention head of a layer (heads go in whole kv groups: "
                        + removed + " of the model's " + c.nKvHeads() + " kv head groups, " + c.nHeads() + " heads)");
            }
            int kept = (int) (c.nKvHeads() - removed);
            return c.withHeads(kept * (c.nHeads() / c.nKvHeads()), kept);
        } else {
            String m = value(MULTIPLE_OF, stage.params(), specs, "1");
            long multipleOf = (long) number(at + "." + MULTIPLE_OF, m);
            if (multipleOf < 1) throw refused(at + "." + MULTIPLE_OF + ": " + m + " is below 1");
            long hidden = c.hiddenDim(), kept = (hidden - Math.round(ratio * hidden)) / multipleOf * multipleOf;
            if (kept <= 0) {
                throw refused(at + "." + RATIO + ": " + stage.params().getOrDefault(RATIO, value(RATIO, stage.params(), specs, "0.25"))
                        + (multipleOf > 1 ? " with multiple_of " + multipleOf : "") + " would remove every MLP channel of a layer (the model's feed_forward_length is " + hidden + ")");
            }
            return c.withHiddenDim((int) kept);
        }
    }

    /** Row lengths (ne0) of the model's matrices at config {@code c}: attn_output's is q width, ffn_down's the hidden width. */
    static List<RowFit.Matrix> rowLengths(List<RowFit.Matrix> matrices, LlamaConfig c) {
        List<RowFit.Matrix> out = new ArrayList<>();
        for (RowFit.Matrix m : matrices) {
            int b = TensorNames.blockOf(m.name());
            long len = b < 0 ? m.rowLength() : m.name().equals(TensorNames.attnOutput(b)) ? c.qDim() : m.name().equals(TensorNames.ffnDown(b)) ? c.hiddenDim() : m.rowLength();
            out.add(new RowFit.Matrix(m.name(), len));
        }
        return out;
    }

    /** Block matrices (out x in) at config {@code c}. */
    static List<RankFit.Matrix> blockShapes(List<RankFit.Matrix> matrices, LlamaConfig c) {
        List<RankFit.Matrix> out = new ArrayList<>();
        for (RankFit.Matrix m : matrices) {
            int b = TensorNames.blockOf(m.name());
            String n = m.name();
            long rows = n.equals(TensorNames.attnQ(b)) ? c.qDim() : n.equals(TensorNames.attnK(b)) || n.equals(TensorNames.attnV(b)) ? c.kvDim()
                    : n.equals(TensorNames.ffnGate(b)) || n.equals(TensorNames.ffnUp(b)) ? c.hiddenDim() : m.out();
            long in = n.equals(TensorNames.attnOutput(b)) ? c.qDim() : n.equals(TensorNames.ffnDown(b)) ? c.hiddenDim() : m.in();
            out.add(new RankFit.Matrix(n, rows, in));
        }
        return out;
    }

    private static String value(String name, Map<String, String> given, Map<String, ParamSpec> specs, String fallback) {
        if (given.containsKey(name)) return given.get(name).trim();
        ParamSpec s = specs.get(name);
        return s != null && !s.getDefaultValue().isEmpty() ? s.getDefaultValue() : fallback;
    }

    private static double number(String field, String value) throws JobRejected {
        try {
            return Double.parseDouble(value);
        } catch (NumberFormatException e) {
            throw refused(field + ": '" + value + "' is not a number");
        }
    }

    private static JobRejected refused(String message) {
        return new JobRejected(Status.Code.INVALID_ARGUMENT, message);
    }
}
