package io.shardwise.pruner;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.Tensor;

import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Whole-layer removal as in ShortGPT (Men et al. 2024, "ShortGPT: Layers in Large Language Models are More Redundant
 * Than You Expect", eq. 1): block influence BI_l = 1 - E_t[cos(x_l,t, x_l+1,t)], the residual stream before and after
 * block l on calibration tokens; the blocks of lowest BI are removed and the rest renumbered, so the model is smaller
 * by whole blocks (the config's n_layers drops).
 */
public final class ShortGpt {
    private ShortGpt() {
    }

    /** Each block's influence, averaged over every token of the windows (each BOS-first, run through the model). */
    public static double[] blockInfluence(LlamaModel model, int[][] windows) {
        int L = model.config().nLayers(), dim = model.config().dim();
        LlamaRuntime rt = new LlamaRuntime(model);
        double[] bi = new double[L];
        long tokens = 0;
        for (int[] w : windows) {
            LlamaRuntime.Session s = rt.newSession(w.length);
            float[] h = s.embed(w, 0, w.length);
            for (int l = 0; l < L; l++) {
                s.reset();
                float[] out = s.layers(h, w.length, l, l + 1);
                for (int t = 0; t < w.length; t++) bi[l] += 1 - cosine(h, out, t * dim, dim);
                h = out;
            }
            tokens += w.length;
        }
        for (int l = 0; l < L; l++) bi[l] /= tokens;
        return bi;
    }

    static double cosine(float[] a, float[] b, int off, int n) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = off; i < off + n; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return aa == 0 || bb == 0 ? 0 : ab / Math.sqrt(aa * bb);
    }

    /** How many of {@code layers} blocks {@code ratio} removes (rounded); refuses a ratio outside [0, 1) or one that removes all. */
    public static int removedCount(double ratio, int layers) {
        if (!(ratio >= 0 && ratio < 1)) throw new IllegalArgumentException("params.ratio " + ratio + " is outside [0, 1)");
        int removed = (int) Math.round(ratio * layers);
        if (removed >= layers) throw new IllegalArgumentException("params.ratio " + ratio + " removes all " + layers + " layers");
        return removed;
    }

    /** The {@code count} blocks of lowest influence (ties to the later block), ascending. */
    public static int[] lowest(double[] influence, int count) {
        if (count < 0 || count >= influence.length) throw new IllegalArgumentException("cannot remove " + count + " of " + influence.length + " layers");
        return IntStream.range(0, influence.length).boxed()
                .sorted(Comparator.<Integer>comparingDouble(l -> influence[l]).thenComparing(l -> -l))
                .limit(count).mapToInt(Integer::intValue).sorted().toArray();
    }

    /** The model without blocks {@code removed}: later blocks renumbered down, n_layers lowered, other tensors as they are. */
    public static LlamaModel remove(LlamaModel m, int[] removed) {
        LlamaConfig c = m.config();
        int L = c.nLayers();
        int[] newIndex = new int[L];
        int next = 0;
        for (int l = 0; l < L; l++) newIndex[l] = Arrays.binarySearch(removed, l) >= 0 ? -1 : next++;
        if (next == 0) throw new IllegalArgumentException("removing " + Arrays.toString(removed) + " leaves no layer");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Tensor t : m.tensors().values()) {
            int b = TensorNames.blockOf(t.name());
            if (b < 0) tensors.put(t.name(), t);
            else if (newIndex[b] >= 0) {
                String name = "blk." + newIndex[b] + t.name().substring(("blk." + b).length());
                tensors.put(name, t.withName(name));
            }
        }
        LlamaConfig smaller = c.withLayers(next);
        return new LlamaModel(smaller, m.vocabulary(), tensors);
    }
}
