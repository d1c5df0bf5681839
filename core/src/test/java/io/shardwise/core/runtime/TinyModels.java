package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Small random Llama models built in memory, for tests that need no files. */
final class TinyModels {
    private TinyModels() {
    }

    /** dim 32, hidden 40 (not a multiple of 16: exercises padding), 2 layers, 4 heads over 2 kv heads, vocab 48, seq_len 24. */
    static LlamaConfig config(boolean tied) {
        return new LlamaConfig(32, 40, 2, 4, 2, 48, 24, 10000f, 1e-5f, tied);
    }

    static LlamaModel random(LlamaConfig c, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        int dim = c.dim(), kv = c.kvDim(), hid = c.hiddenDim();
        put(t, TensorNames.TOKEN_EMBD, rnd, 1.0, dim, c.vocabSize());
        for (int l = 0; l < c.nLayers(); l++) {
            norm(t, TensorNames.attnNorm(l), rnd, dim);
            put(t, TensorNames.attnQ(l), rnd, 0.3, dim, c.qDim());
            put(t, TensorNames.attnK(l), rnd, 0.3, dim, kv);
            put(t, TensorNames.attnV(l), rnd, 0.3, dim, kv);
            put(t, TensorNames.attnOutput(l), rnd, 0.3, c.qDim(), dim);
            norm(t, TensorNames.ffnNorm(l), rnd, dim);
            put(t, TensorNames.ffnGate(l), rnd, 0.3, dim, hid);
            put(t, TensorNames.ffnDown(l), rnd, 0.3, hid, dim);
            put(t, TensorNames.ffnUp(l), rnd, 0.3, dim, hid);
        }
        norm(t, TensorNames.OUTPUT_NORM, rnd, dim);
        if (!c.tiedEmbeddings()) put(t, TensorNames.OUTPUT, rnd, 0.5, dim, c.vocabSize());
        return new LlamaModel(c, vocabulary(c.vocabSize()), t);
    }

    /** The model with seeded random q/k/v biases ({@code blk.N.attn_q.bias} ..., as Qwen2 has them). */
    static LlamaModel withAttentionBiases(LlamaModel m, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> t = new LinkedHashMap<>(m.tensors());
        LlamaConfig c = m.config();
        for (int l = 0; l < c.nLayers(); l++) {
            for (String w : new String[]{TensorNames.attnQ(l), TensorNames.attnK(l), TensorNames.attnV(l)}) {
                String name = w.replace(".weight", ".bias");
                int n = w.equals(TensorNames.attnQ(l)) ? c.qDim() : c.kvDim();
                float[] v = new float[n];
                for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1);
                t.put(name, Tensor.ofFloats(name, new long[]{n}, v));
            }
        }
        return new LlamaModel(m.config(), m.vocabulary(), t);
    }

    /** Specials, byte tokens would not fit, so: {@code <unk> <s> </s>} then single letters and a few merges. */
    static Vocabulary vocabulary(int size) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>", " "));
        for (char ch = 'a'; tokens.size() < size && ch <= 'z'; ch++) tokens.add(String.valueOf(ch));
        for (int i = 0; tokens.size() < size; i++) tokens.add(" " + (char) ('a' + i % 26) + (i / 26 == 0 ? "" : String.valueOf(i / 26)));
        float[] scores = new float[size];
        for (int i = 30; i < size; i++) scores[i] = -i;
        return new Vocabulary(tokens, scores, 4, 1, 2);
    }

    private static void put(Map<String, Tensor> t, String name, SplittableRandom rnd, double scale, int in, int out) {
        float[] v = new float[in * out];
        for (int i = 0; i < v.length; i++) v[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        t.put(name, Tensor.ofFloats(name, new long[]{in, out}, v));
    }

    private static void norm(Map<String, Tensor> t, String name, SplittableRandom rnd, int dim) {
        float[] v = new float[dim];
        for (int i = 0; i < dim; i++) v[i] = (float) (0.5 + rnd.nextDouble());
        t.put(name, Tensor.ofFloats(name, new long[]{dim}, v));
    }
}
