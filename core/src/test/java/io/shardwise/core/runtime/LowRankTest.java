package io.shardwise.core.runtime;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Linear layers as {@code W x + B (A x)} or {@code B (A x)}: the runtime against the same products folded into W. */
class LowRankTest {
    private static final int[] SEQ = {1, 5, 9, 13, 2, 40, 7, 7, 30, 11, 3, 22};

    /** A [in, rank] and B [rank, out] (ggml shapes), random, in the given type. */
    private record Pair(Tensor a, Tensor b) {
        /** B A in double, as the [in, out] weight it stands for (dequantized factors). */
        double[] product() {
            float[] av = a.toFloats(), bv = b.toFloats();
            int in = a.cols(), rank = a.rows(), out = b.rows();
            double[] w = new double[in * out];
            for (int o = 0; o < out; o++)
                for (int k = 0; k < rank; k++)
                    for (int i = 0; i < in; i++) w[o * in + i] += (double) bv[o * rank + k] * av[k * in + i];
            return w;
        }
    }

    private static Pair randomPair(String weight, int in, int out, int rank, double scale, TensorType type, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] a = new float[rank * in], b = new float[out * rank];
        for (int i = 0; i < a.length; i++) a[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        for (int i = 0; i < b.length; i++) b[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        return new Pair(TensorCodecs.quantize(TensorNames.loraA(weight), new long[]{in, rank}, a, type),
                TensorCodecs.quantize(TensorNames.loraB(weight), new long[]{rank, out}, b, type));
    }

    private static float[] logits(LlamaModel m, Kernels k, boolean decode) {
        int vocab = m.config().vocabSize();
        float[] out = new float[SEQ.length * vocab];
        LlamaRuntime.Session s = new LlamaRuntime(new LlamaWeights(m), k).newSession(SEQ.length);
        if (decode) {
            for (int t = 0; t < SEQ.length; t++) System.arraycopy(s.forward(SEQ[t]).data(), 0, out, t * vocab, vocab);
        } else {
            System.arraycopy(s.forward(SEQ, 0, SEQ.length).data(), 0, out, 0, out.length);
        }
        return out;
    }

    private static void assertSameLogits(LlamaModel want, LlamaModel got, double tol, String what) {
        for (Kernels k : new Kernels[]{VectorKernels.INSTANCE, ScalarKernels.INSTANCE}) {
            for (boolean decode : new boolean[]{false, true}) {
                float[] a = logits(want, k, decode), b = logits(got, k, decode);
                double scale = 0;
                for (float v : a) scale = Math.max(scale, Math.abs(v));
                for (int i = 0; i < a.length; i++) {
                    assertEquals(a[i], b[i], tol * scale, what + " " + k.getClass().getSimpleName() + (decode ? " decode" : " prefill") + " logit " + i);
                }
            }
        }
    }

    /** The layers each test factorizes: attention, MLP (a wide and a tall one) and the untied classifier. */
    private static List<String> targets() {
        return List.of(TensorNames.attnQ(0), TensorNames.attnV(1), TensorNames.ffnGate(0), TensorNames.ffnDown(1), TensorNames.OUTPUT);
    }

    @Test
    void weightsReplacedByAnExactFullRankFactorizationGiveTheSameLogits() {
        LlamaModel m = TinyModels.random(TinyModels.config(false), 31);
        Map<String, Tensor> folded = new LinkedHashMap<>(), factors = new LinkedHashMap<>();
        int seed = 0;
        for (String name : targets()) {
            Tensor w = m.tensor(name);
            int rank = Math.min(w.cols(), w.rows()); // full rank
            Pair p = randomPair(name, w.cols(), w.rows(), rank, 0.5, GgmlType.F32, ++seed);
            folded.put(name, Tensor.ofFloats(name, w.shape(), toFloats(p.product())));
            factors.put(p.a().name(), p.a());
            factors.put(p.b().name(), p.b());
        }
        LlamaModel dense = m.withTensors(folded);
        LlamaModel low = dense.withoutTensors(targets()).withTensors(factors);
        assertSameLogits(dense, low, 2e-5, "W = B A replaced by A, B");
        // parameter counting counts the factors and not the weights they replaced
        long want = dense.parameterCount();
        for (String name : targets()) {
            Tensor w = m.tensor(name);
            int rank = Math.min(w.cols(), w.rows());
            want += (long) rank * (w.cols() + w.rows()) - (long) w.cols() * w.rows();
        }
        assertEquals(want, low.parameterCount());
    }

    @Test
    void aWeightWithALowRankCompensationRunsAsWPlusTheProduct() {
        LlamaModel m = TinyModels.random(TinyModels.config(false), 32);
        for (TensorType type : new TensorType[]{GgmlType.F32, GgmlType.F16}) {
            Map<String, Tensor> folded = new LinkedHashMap<>(), factors = new LinkedHashMap<>();
            int seed = 10;
            for (String name : targets()) {
                Tensor w = m.tensor(name);
                Pair p = randomPair(name, w.cols(), w.rows(), 3, 0.3, type, ++seed);
                double[] delta = p.product();
                float[] wv = w.toFloats(), sum = new float[wv.length];
                for (int i = 0; i < wv.length; i++) sum[i] = (float) (wv[i] + delta[i]);
                folded.put(name, Tensor.ofFloats(name, w.shape(), sum));
                factors.put(p.a().name(), p.a());
                factors.put(p.b().name(), p.b());
            }
            assertSameLogits(m.withTensors(folded), m.withTensors(factors), 2e-5, "W + B A (" + type.typeName() + " factors)");
        }
    }

    @Test
    void blockQuantizedFactorsRunInTheirStoredType() {
        // rank 32 so that B's rows are whole Q8_0 blocks; A's activation is quantized to Q8_0 too, hence the tolerance
        LlamaModel m = TinyModels.random(TinyModels.config(false), 33);
        String name = TensorNames.ffnUp(1);
        Tensor w = m.tensor(name);
        Pair p = randomPair(name, w.cols(), w.rows(), 32, 0.2, GgmlType.Q8_0, 7);
        LlamaModel low = m.withoutTensors(List.of(name)).withTensors(Map.of(p.a().name(), p.a(), p.b().name(), p.b()));
        LlamaModel folded = m.withTensors(Map.of(name, Tensor.ofFloats(name, w.shape(), toFloats(p.product()))));
        assertSameLogits(folded, low, 0.02, "Q8_0 factors");
    }

    @Test
    void perplexityRunsOnAFactorizedModelStoredAndLoadedThroughAManifest(@TempDir Path tmp) throws Exception {
        LlamaModel m = TinyModels.random(TinyModels.config(true), 34);
        Map<String, Tensor> folded = new LinkedHashMap<>(), factors = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        for (int l = 0; l < m.config().nLayers(); l++) {
            for (String name : TensorNames.blockMatrices(l)) {
                Tensor w = m.tensor(name);
                Pair p = randomPair(name, w.cols(), w.rows(), 4, 0.3, GgmlType.F16, name.hashCode());
                folded.put(name, Tensor.ofFloats(name, w.shape(), toFloats(p.product())));
                factors.put(p.a().name(), p.a());
                factors.put(p.b().name(), p.b());
                names.add(name);
            }
        }
        LlamaModel low = m.withoutTensors(names).withTensors(factors);
        ModelStore store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        String digest = store.importModel(low, "test:low-rank", "low");
        int[] tokens = new int[60];
        for (int i = 0; i < tokens.length; i++) tokens[i] = 3 + (i * 7) % 40;
        try (Arena arena = Arena.ofShared()) {
            LlamaModel loaded = store.load(digest, arena);
            assertEquals(low.parameterCount(), loaded.parameterCount());
            LlamaRuntime rt = new LlamaRuntime(loaded, 2);
            PerplexityResult got = Perplexity.evaluateTokens(rt, 1, tokens, 2);
            PerplexityResult released = Perplexity.evaluateTokens(rt.releasingPages(), 1, tokens, 2);
            PerplexityResult want = Perplexity.evaluateTokens(new LlamaRuntime(m.withTensors(folded), 2), 1, tokens, 2);
            assertEquals(want.meanNll(), got.meanNll(), 1e-4);
            assertEquals(got.meanNll(), released.meanNll(), 0.0);
            assertTrue(got.ppl() > 1);
        }
    }

    @Test
    void aStageDerivesFactorsThatReplaceOrComplementAWeight(@TempDir Path tmp) throws Exception {
        LlamaModel m = TinyModels.random(TinyModels.config(false), 36);
        ModelStore store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        String parent = store.importModel(m, "test:parent", "parent");
        String q = TensorNames.attnQ(0), up = TensorNames.ffnUp(1);
        Pair pq = randomPair(q, 32, 32, 4, 0.3, GgmlType.F16, 1), pu = randomPair(up, 32, 40, 4, 0.3, GgmlType.F32, 2);
        Tensor upAgain = m.tensor(up);
        var entries = store.storeTensors(List.of(pq.a(), pq.b(), pu.a(), pu.b(), upAgain));
        io.shardwise.proto.v1.StageSpec stage = io.shardwise.proto.v1.StageSpec.newBuilder().setName("lowrank").build();
        String child = store.derive(parent, stage, entries);
        try (Arena arena = Arena.ofShared()) {
            LlamaModel got = store.load(child, arena);
            assertTrue(!got.tensors().containsKey(q), "attn_q replaced by its factors (no W in the output)");
            assertTrue(got.tensors().containsKey(up) && got.tensors().containsKey(TensorNames.loraA(up)), "ffn_up complemented (W in the output)");
            assertEquals(m.parameterCount() - 32 * 32 + 4 * 64 + 4 * 72, got.parameterCount());
            LlamaModel want = m.withoutTensors(List.of(q)).withTensors(Map.of(pq.a().name(), pq.a(), pq.b().name(), pq.b(), pu.a().name(), pu.a(), pu.b().name(), pu.b()));
            assertSameLogits(want, got, 0, "derived");
        }
        var lone = store.storeTensors(List.of(pq.a()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> store.derive(parent, stage, lone));
        assertTrue(e.getMessage().contains("blk.0.attn_q.weight.lora_a") && e.getMessage().contains("lora_b"), e.getMessage());
        Tensor stray = Tensor.ofFloats("blk.9.attn_q.weight.lora_a", new long[]{32, 4}, new float[128]);
        var unknown = store.storeTensors(List.of(stray));
        assertThrows(IllegalArgumentException.class, () -> store.derive(parent, stage, unknown));
    }

    @Test
    void aFactorizedModelRoundTripsThroughGguf(@TempDir Path tmp) throws Exception {
        LlamaModel m = TinyModels.random(TinyModels.config(false), 37);
        Map<String, Tensor> factors = new LinkedHashMap<>();
        int seed = 20;
        for (String name : targets()) {
            Tensor w = m.tensor(name);
            Pair p = randomPair(name, w.cols(), w.rows(), 4, 0.3, GgmlType.F16, ++seed);
            factors.put(p.a().name(), p.a());
            factors.put(p.b().name(), p.b());
        }
        // attn_q, attn_v, ffn_gate and the classifier replaced; ffn_down complemented
        LlamaModel low = m.withoutTensors(List.of(TensorNames.attnQ(0), TensorNames.attnV(1), TensorNames.ffnGate(0), TensorNames.OUTPUT)).withTensors(factors);
        Path file = tmp.resolve("low.gguf");
        io.shardwise.core.format.GgufLlama.write(low, file, io.shardwise.core.format.GgufLlama.WriteOptions.keepTypes("low"));
        try (Arena arena = Arena.ofShared()) {
            LlamaModel read = io.shardwise.core.format.GgufLlama.read(file, arena);
            assertTrue(!read.config().tiedEmbeddings(), "a classifier of factors is not the tied embedding");
            assertEquals(low.tensors().keySet(), read.tensors().keySet());
            assertSameLogits(low, read, 0, "GGUF round trip");
        }
    }

    @Test
    void inconsistentFactorsAreRefusedNamingTheTensor() {
        LlamaModel m = TinyModels.random(TinyModels.config(false), 35);
        String q = TensorNames.attnQ(0);
        Pair p = randomPair(q, 32, 32, 4, 0.3, GgmlType.F32, 1);
        IllegalArgumentException lone = assertThrows(IllegalArgumentException.class, () -> m.withTensors(Map.of(p.a().name(), p.a())));
        assertTrue(lone.getMessage().contains("blk.0.attn_q.weight.lora_a") && lone.getMessage().contains("no partner"), lone.getMessage());
        IllegalArgumentException loneB = assertThrows(IllegalArgumentException.class, () -> m.withTensors(Map.of(p.b().name(), p.b())));
        assertTrue(loneB.getMessage().contains("blk.0.attn_q.weight.lora_b"), loneB.getMessage());
        Pair r5 = randomPair(q, 32, 32, 5, 0.3, GgmlType.F32, 2);
        IllegalArgumentException rank = assertThrows(IllegalArgumentException.class, () -> m.withTensors(Map.of(p.a().name(), p.a(), r5.b().name(), r5.b())));
        assertTrue(rank.getMessage().contains("rank 4") && rank.getMessage().contains("rank 5"), rank.getMessage());
        Pair wide = randomPair(q, 32, 16, 4, 0.3, GgmlType.F32, 3);
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> m.withTensors(Map.of(wide.a().name(), wide.a(), wide.b().name(), wide.b())));
        assertTrue(shape.getMessage().contains("tensor blk.0.attn_q.weight has shape [32, 32]"), shape.getMessage());
        Tensor stray = Tensor.ofFloats("blk.0.attn_q.lora_a", new long[]{32, 4}, new float[128]);
        assertThrows(IllegalArgumentException.class, () -> m.withTensors(Map.of(stray.name(), stray)));
        // W absent and no factors, and factors whose product does not fit the config
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> new LlamaWeights(m.withoutTensors(List.of(q))));
        assertTrue(missing.getMessage().contains(q) && missing.getMessage().contains("lora_a"), missing.getMessage());
        LlamaModel misfit = m.withoutTensors(List.of(q)).withTensors(Map.of(wide.a().name(), wide.a(), wide.b().name(), wide.b()));
        IllegalArgumentException config = assertThrows(IllegalArgumentException.class, () -> new LlamaWeights(misfit));
        assertTrue(config.getMessage().contains("blk.0.attn_q.weight.lora_b"), config.getMessage());
        // the embedding is looked up by row; a classifier of factors alone has no single tensor
        Pair e = randomPair(TensorNames.TOKEN_EMBD, 32, 48, 4, 0.3, GgmlType.F32, 4);
        IllegalArgumentException embd = assertThrows(IllegalArgumentException.class, () -> new LlamaWeights(m.withTensors(Map.of(e.a().name(), e.a(), e.b().name(), e.b()))));
        assertTrue(embd.getMessage().contains(TensorNames.TOKEN_EMBD), embd.getMessage());
        Pair o = randomPair(TensorNames.OUTPUT, 32, 48, 4, 0.3, GgmlType.F32, 5);
        LlamaModel factoredHead = m.withoutTensors(List.of(TensorNames.OUTPUT)).withTensors(Map.of(o.a().name(), o.a(), o.b().name(), o.b()));
        assertThrows(IllegalStateException.class, factoredHead::classifier);
    }

    private static float[] toFloats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }
}
