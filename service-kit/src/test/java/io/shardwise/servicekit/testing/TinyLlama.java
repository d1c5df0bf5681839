package io.shardwise.servicekit.testing;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.ShardRef;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A small random Llama (seeded) for adapter tests. The default shape mimics stories260K's awkward part:
 * hidden 48 is not a multiple of 32, so ffn_down rows (48 wide) do not fit Q8_0/Q4_0 blocks.
 */
public final class TinyLlama {
    public static final LlamaConfig DEFAULT = new LlamaConfig(64, 48, 2, 4, 2, 40, 32, 10000f, 1e-5f, false);

    private TinyLlama() {
    }

    public static LlamaModel build(long seed) {
        return build(DEFAULT, seed);
    }

    public static LlamaModel build(LlamaConfig c, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        matrix(t, TensorNames.TOKEN_EMBD, c.dim(), c.vocabSize(), rnd);
        for (int l = 0; l < c.nLayers(); l++) {
            norm(t, TensorNames.attnNorm(l), c.dim());
            matrix(t, TensorNames.attnQ(l), c.dim(), c.dim(), rnd);
            matrix(t, TensorNames.attnK(l), c.dim(), c.kvDim(), rnd);
            matrix(t, TensorNames.attnV(l), c.dim(), c.kvDim(), rnd);
            matrix(t, TensorNames.attnOutput(l), c.dim(), c.dim(), rnd);
            norm(t, TensorNames.ffnNorm(l), c.dim());
            matrix(t, TensorNames.ffnGate(l), c.dim(), c.hiddenDim(), rnd);
            matrix(t, TensorNames.ffnUp(l), c.dim(), c.hiddenDim(), rnd);
            matrix(t, TensorNames.ffnDown(l), c.hiddenDim(), c.dim(), rnd);
        }
        norm(t, TensorNames.OUTPUT_NORM, c.dim());
        if (!c.tiedEmbeddings()) matrix(t, TensorNames.OUTPUT, c.dim(), c.vocabSize(), rnd);
        return new LlamaModel(c, vocabulary(c.vocabSize()), t);
    }

    /** The shard of block {@code l} as the gateway plans it. */
    public static ShardRef block(int l) {
        return ShardRef.newBuilder().setShardId("block." + l).setIndex(l + 1).addAllTensors(TensorNames.blockTensors(l)).build();
    }

    private static Vocabulary vocabulary(int n) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int i = tokens.size(); i < n; i++) tokens.add(i % 2 == 0 ? " w" + i : "s" + i);
        return new Vocabulary(tokens, new float[n], 8, 1, 2);
    }

    /** A weight [rows][cols] row-major: ggml shape {cols, rows}; scaled like an initialised layer. */
    private static void matrix(Map<String, Tensor> t, String name, int cols, int rows, SplittableRandom rnd) {
        float[] v = new float[cols * rows];
        double scale = 1.0 / Math.sqrt(cols);
        for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextDouble(-1, 1) * Math.sqrt(3) * scale);
        t.put(name, Tensor.ofFloats(name, new long[]{cols, rows}, v));
    }

    private static void norm(Map<String, Tensor> t, String name, int dim) {
        float[] v = new float[dim];
        java.util.Arrays.fill(v, 1f);
        t.put(name, Tensor.ofFloats(name, new long[]{dim}, v));
    }
}
