package io.shardwise.pruner;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Structured attention-head pruning as in LLM-Pruner (Ma et al. 2023, "LLM-Pruner: On the Structural Pruning of Large
 * Language Models", the attention-head group: a head's rows of W_q/W_k/W_v and its columns of W_o go together), with
 * grouped-query attention's coupling made part of the group: a kv head goes with all n_heads / n_kv_heads query heads
 * that read it, so every layer keeps whole GQA groups. Scored by activation norm instead of the paper's first-order
 * Taylor term (its eq. 3): a query head h scores ||O_h||_2 * ||W_o[:, h]||_F (the Wanda product, Sun et al. 2023, eq. 1,
 * over the head's slice), O_h its attention output over the calibration tokens; a group scores the sum of its heads
 * (the paper's summation aggregation). The lowest-scoring groups go; the rest keep their order.
 * Rows of one head are contiguous in the stored layout (interleaved or NEOX RoPE alike: both rotate within a head), so
 * removing a group removes contiguous row ranges.
 */
public final class AttentionHeadPruning {
    private AttentionHeadPruning() {
    }

    /** How many of {@code kvHeads} GQA groups {@code ratio} (a share of heads) removes, rounded; refuses a ratio outside [0, 1) or one that removes all. */
    public static int removedGroups(double ratio, int heads, int kvHeads) {
        if (!(ratio >= 0 && ratio < 1)) throw new IllegalArgumentException("params.ratio " + ratio + " is outside [0, 1)");
        int removed = (int) Math.round(ratio * kvHeads);
        if (removed >= kvHeads) {
            throw new IllegalArgumentException("params.ratio " + ratio + " removes all " + kvHeads + " kv head groups (" + heads
                    + " attention heads) of a layer; heads go in whole groups of " + heads / kvHeads);
        }
        return removed;
    }

    /**
     * Score of each GQA group: the sum over its query heads h of sqrt(sumSquares[h]) * the Frobenius norm of W_o's
     * columns of head h ({@code wo}: dim x heads*headDim, row-major).
     */
    public static double[] groupScores(double[] sumSquares, float[] wo, int dim, int heads, int kvHeads, int headDim) {
        if (sumSquares.length != heads) throw new IllegalArgumentException("head statistics have " + sumSquares.length + " heads, the layer has " + heads);
        int qDim = heads * headDim;
        if (wo.length != (long) dim * qDim) throw new IllegalArgumentException("attn_output has " + wo.length + " values, expected " + dim + " x " + qDim);
        double[] col = new double[heads];
        for (int r = 0; r < dim; r++) {
            int base = r * qDim;
            for (int j = 0; j < qDim; j++) col[j / headDim] += (double) wo[base + j] * wo[base + j];
        }
        double[] s = new double[kvHeads];
        int group = heads / kvHeads;
        for (int h = 0; h < heads; h++) s[h / group] += Math.sqrt(sumSquares[h]) * Math.sqrt(col[h]);
        return s;
    }

    /** The row indices of the kept groups ({@code keptGroups} ascending), each group {@code rowsPerGroup} contiguous rows. */
    public static int[] rows(int[] keptGroups, int rowsPerGroup) {
        int[] out = new int[keptGroups.length * rowsPerGroup];
        for (int i = 0; i < keptGroups.length; i++) {
            for (int r = 0; r < rowsPerGroup; r++) out[i * rowsPerGroup + r] = keptGroups[i] * rowsPerGroup + r;
        }
        return out;
    }

    /** Entries {@code kept} of a vector (a q/k/v bias). */
    public static float[] select(float[] v, int[] kept) {
        float[] out = new float[kept.length];
        for (int i = 0; i < kept.length; i++) out[i] = v[kept[i]];
        return out;
    }

    /** The groups not in {@code kept}, ascending (for notes). */
    public static int[] removed(int groups, int[] kept) {
        return java.util.stream.IntStream.range(0, groups).filter(g -> Arrays.binarySearch(kept, g) < 0).toArray();
    }

    /**
     * {@code m} with only the GQA groups {@code keptGroups[layer]} (ascending, the same count in every layer): a smaller
     * model with n_heads/n_kv_heads lowered and head_dim kept, changed tensors as F32. Needs no calibration (a given
     * choice: a control, or a head-pruned model to test other readers with, e.g. first groups kept).
     */
    public static LlamaModel withGroups(LlamaModel m, int[][] keptGroups) {
        LlamaConfig c = m.config();
        if (keptGroups.length != c.nLayers()) throw new IllegalArgumentException(keptGroups.length + " layers of kept groups for " + c.nLayers() + " layers");
        int group = c.nHeads() / c.nKvHeads(), hd = c.headDim(), dim = c.dim(), kept = keptGroups[0].length;
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int l = 0; l < c.nLayers(); l++) {
            if (keptGroups[l].length != kept || kept == 0) throw new IllegalArgumentException("layer " + l + " keeps " + keptGroups[l].length + " groups, layer 0 keeps " + kept);
            int[] qRows = rows(keptGroups[l], group * hd), kvRows = rows(keptGroups[l], hd);
            for (String w : java.util.List.of(TensorNames.attnQ(l), TensorNames.attnK(l), TensorNames.attnV(l))) {
                int[] r = w.equals(TensorNames.attnQ(l)) ? qRows : kvRows;
                float[] src = m.tensor(w).toFloats(), dst = new float[r.length * dim];
                for (int i = 0; i < r.length; i++) System.arraycopy(src, r[i] * dim, dst, i * dim, dim);
                out.put(w, Tensor.ofFloats(w, new long[]{dim, r.length}, dst));
                String b = w.replace(".weight", ".bias");
                if (m.tensors().containsKey(b)) out.put(b, Tensor.ofFloats(b, new long[]{r.length}, select(m.tensor(b).toFloats(), r)));
            }
            String o = TensorNames.attnOutput(l);
            out.put(o, Tensor.ofFloats(o, new long[]{qRows.length, dim}, MlpChannelPruning.selectColumns(m.tensor(o).toFloats(), dim, c.qDim(), qRows)));
        }
        return new LlamaModel(c.withHeads(kept * group, kept), m.vocabulary(), m.withTensors(out).tensors());
    }
}
