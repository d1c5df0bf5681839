package io.shardwise.core.train;

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

/** Small random Llama models for tests. */
final class TinyModels {
    private TinyModels() {
    }

    static LlamaModel random(LlamaConfig c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        put(t, TensorNames.TOKEN_EMBD, new long[]{c.dim(), c.vocabSize()}, r, 0.5, 0);
        for (int l = 0; l < c.nLayers(); l++) {
            put(t, TensorNames.attnNorm(l), new long[]{c.dim()}, r, 0.2, 1);
            put(t, TensorNames.attnQ(l), new long[]{c.dim(), c.qDim()}, r, 0.3, 0);
            put(t, TensorNames.attnK(l), new long[]{c.dim(), c.kvDim()}, r, 0.3, 0);
            put(t, TensorNames.attnV(l), new long[]{c.dim(), c.kvDim()}, r, 0.3, 0);
            put(t, TensorNames.attnOutput(l), new long[]{c.qDim(), c.dim()}, r, 0.3, 0);
            put(t, TensorNames.ffnNorm(l), new long[]{c.dim()}, r, 0.2, 1);
            put(t, TensorNames.ffnGate(l), new long[]{c.dim(), c.hiddenDim()}, r, 0.3, 0);
            put(t, TensorNames.ffnDown(l), new long[]{c.hiddenDim(), c.dim()}, r, 0.3, 0);
            put(t, TensorNames.ffnUp(l), new long[]{c.dim(), c.hiddenDim()}, r, 0.3, 0);
        }
        put(t, TensorNames.OUTPUT_NORM, new long[]{c.dim()}, r, 0.2, 1);
        if (!c.tiedEmbeddings()) put(t, TensorNames.OUTPUT, new long[]{c.dim(), c.vocabSize()}, r, 0.5, 0);
        return new LlamaModel(c, vocabulary(c.vocabSize()), t);
    }

    static Vocabulary vocabulary(int n) {
        List<String> toks = new ArrayList<>();
        for (int i = 0; i < n; i++) toks.add("t" + i);
        return new Vocabulary(toks, new float[n], 4, 1, 2);
    }

    private static void put(Map<String, Tensor> t, String name, long[] shape, SplittableRandom r, double std, double mean) {
        int n = 1;
        for (long d : shape) n *= (int) d;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (mean + std * gaussian(r));
        t.put(name, Tensor.ofFloats(name, shape, v));
    }

    static double gaussian(SplittableRandom r) {
        double u = r.nextDouble(), w = r.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * w);
    }
}
