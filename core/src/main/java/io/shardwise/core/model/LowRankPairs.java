package io.shardwise.core.model;

import io.shardwise.core.tensor.Tensor;

import java.util.Arrays;
import java.util.Map;

/**
 * The low-rank factor convention: a linear weight {@code <base>.weight} (ggml [in, out]) may carry
 * {@code <base>.weight.lora_a} (ggml [in, rank]) and {@code <base>.weight.lora_b} (ggml [rank, out]); the layer
 * computes {@code W x + B (A x)}, or {@code B (A x)} when W is absent (truncated SVD, ASVD; LoRC keeps W).
 */
public final class LowRankPairs {
    private LowRankPairs() {
    }

    /** True when the tensor name is a low-rank factor. */
    public static boolean isFactor(String name) {
        return name.endsWith(TensorNames.LORA_A) || name.endsWith(TensorNames.LORA_B);
    }

    /** True when {@code weight} has both factors in {@code tensors} (after {@link #check}, one implies the other). */
    public static boolean hasFactors(Map<String, Tensor> tensors, String weight) {
        return tensors.containsKey(TensorNames.loraA(weight));
    }

    /**
     * Refuses a factor without its partner, a factor not named {@code <base>.weight.lora_*}, factors that are not
     * 2-D, whose ranks differ, or whose product's shape differs from the weight they sit beside; each naming the tensor.
     */
    public static void check(Map<String, Tensor> tensors) {
        for (Tensor t : tensors.values()) {
            String name = t.name();
            if (!isFactor(name)) continue;
            boolean isA = name.endsWith(TensorNames.LORA_A);
            String weight = name.substring(0, name.length() - (isA ? TensorNames.LORA_A : TensorNames.LORA_B).length());
            if (!weight.endsWith(".weight")) {
                throw new IllegalArgumentException("tensor " + name + " looks like a low-rank factor but is not named <base>.weight.lora_a or .lora_b");
            }
            String partner = isA ? TensorNames.loraB(weight) : TensorNames.loraA(weight);
            if (!tensors.containsKey(partner)) {
                throw new IllegalArgumentException("low-rank factor " + name + " has no partner " + partner);
            }
            if (t.shape().length != 2) {
                throw new IllegalArgumentException("low-rank factor " + name + " has shape " + Arrays.toString(t.shape()) + ", expected 2 dims");
            }
            if (!isA) continue; // the pair is checked once, from A
            Tensor b = tensors.get(partner);
            if (b.shape().length != 2) {
                throw new IllegalArgumentException("low-rank factor " + partner + " has shape " + Arrays.toString(b.shape()) + ", expected 2 dims");
            }
            long rankA = t.shape()[1], rankB = b.shape()[0];
            if (rankA != rankB) {
                throw new IllegalArgumentException("low-rank factors disagree on the rank: " + name + " " + Arrays.toString(t.shape())
                        + " has rank " + rankA + " but " + partner + " " + Arrays.toString(b.shape()) + " has rank " + rankB);
            }
            Tensor w = tensors.get(weight);
            long[] product = {t.shape()[0], b.shape()[1]};
            if (w != null && !Arrays.equals(w.shape(), product)) {
                throw new IllegalArgumentException("tensor " + weight + " has shape " + Arrays.toString(w.shape()) + " but its low-rank factors "
                        + name + " and " + partner + " multiply to " + Arrays.toString(product));
            }
        }
    }
}
