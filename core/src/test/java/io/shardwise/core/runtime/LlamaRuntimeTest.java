package io.shardwise.core.runtime;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LlamaRuntimeTest {

    private static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    /** Logits of the runtime against the double-precision reference, within {@code tol} times the row's largest |logit|. */
    private static void assertMatchesReference(LlamaModel m, Kernels kernels, double tol) {
        int[] seq = tokens(20, m.config().vocabSize(), 3);
        double[][] want = new ReferenceForward(m).logits(seq);
        LlamaRuntime.Logits got = new LlamaRuntime(new LlamaWeights(m), kernels).newSession(24).forward(seq, 0, seq.length);
        for (int t = 0; t < seq.length; t++) {
            double scale = 0;
            for (double v : want[t]) scale = Math.max(scale, Math.abs(v));
            for (int v = 0; v < m.config().vocabSize(); v++) {
                assertEquals(want[t][v], got.get(t, v), tol * scale, "logit [" + t + "][" + v + "] with " + kernels.getClass().getSimpleName());
            }
        }
    }

    @Test
    void prefillMatchesTheTextbookForwardPassWithBothKernelSets() {
        for (boolean tied : new boolean[]{true, false}) {
            LlamaModel m = TinyModels.random(TinyModels.config(tied), 11);
            assertMatchesReference(m, VectorKernels.INSTANCE, 1e-4);
            assertMatchesReference(m, ScalarKernels.INSTANCE, 1e-4);
        }
    }

    @Test
    void neoxRopeScalingAndAttentionBiasesMatchTheReference() {
        LlamaConfig base = TinyModels.config(false);
        for (RopeScaling scaling : new RopeScaling[]{RopeScaling.NONE, RopeScaling.linear(4f), RopeScaling.llama3(8f, 1f, 4f, 8)}) {
            LlamaConfig qwen = new LlamaConfig(base.dim(), base.hiddenDim(), base.nLayers(), base.nHeads(), base.nKvHeads(),
                    base.vocabSize(), base.seqLen(), 1_000_000f, base.normEps(), false, "qwen2", true, scaling, true);
            LlamaModel m = TinyModels.withAttentionBiases(TinyModels.random(qwen, 13), 14);
            assertMatchesReference(m, VectorKernels.INSTANCE, 1e-4);
            assertMatchesReference(m, ScalarKernels.INSTANCE, 1e-4);
        }
        // the same weights read with interleaved pairs give other logits: the layout is really used
        LlamaConfig neox = new LlamaConfig(32, 40, 2, 4, 2, 48, 24, 10000f, 1e-5f, true, "llama", true, RopeScaling.NONE, false);
        LlamaModel a = TinyModels.random(neox, 3);
        LlamaModel b = new LlamaModel(TinyModels.config(true), a.vocabulary(), a.tensors());
        int[] seq = {1, 7, 9, 4};
        assertNotEquals(new LlamaRuntime(a).newSession(4).forward(seq, 0, 4).get(3, 5),
                new LlamaRuntime(b).newSession(4).forward(seq, 0, 4).get(3, 5));
    }

    @Test
    void headDimOtherThanDimOverHeadsMatchesTheReference() {
        // narrower (as after attention-head pruning: 6 heads of 4 over dim 32) and wider (3 heads of 16) than dim
        for (int[] heads : new int[][]{{6, 3, 4}, {3, 1, 16}}) {
            for (boolean neox : new boolean[]{false, true}) {
                LlamaConfig c = new LlamaConfig(32, 40, 2, heads[0], heads[1], 48, 24, 10000f, 1e-5f, false,
                        neox ? "qwen2" : "llama", neox, RopeScaling.NONE, neox, heads[2]);
                assertEquals(heads[0] * heads[2], c.qDim());
                LlamaModel m = TinyModels.random(c, 21);
                if (neox) m = TinyModels.withAttentionBiases(m, 22);
                assertMatchesReference(m, VectorKernels.INSTANCE, 1e-4);
                assertMatchesReference(m, ScalarKernels.INSTANCE, 1e-4);
            }
        }
    }

    @Test
    void untiedClassifierIsUsedWhenPresent() {
        LlamaModel untied = TinyModels.random(TinyModels.config(false), 5);
        LlamaModel tiedSameWeights = new LlamaModel(TinyModels.config(true), untied.vocabulary(),
                withoutOutput(untied.tensors()));
        int[] seq = {1, 7, 9};
        float a = new LlamaRuntime(untied).newSession(4).forward(seq, 0, 3).get(2, 5);
        float b = new LlamaRuntime(tiedSameWeights).newSession(4).forward(seq, 0, 3).get(2, 5);
        assertNotEquals(a, b);
    }

    private static Map<String, Tensor> withoutOutput(Map<String, Tensor> t) {
        Map<String, Tensor> m = new HashMap<>(t);
        m.remove(TensorNames.OUTPUT);
        return m;
    }

    @Test
    void decodingOneTokenAtATimeThroughTheKvCacheEqualsPrefill() {
        LlamaModel m = TinyModels.random(TinyModels.config(true), 17);
        LlamaRuntime rt = new LlamaRuntime(m);
        int[] seq = tokens(24, 48, 9);
        LlamaRuntime.Session prefill = rt.newSession(24);
        LlamaRuntime.Logits all = prefill.forward(seq, 0, 10);
        float[][] first = new float[10][48];
        for (int t = 0; t < 10; t++) for (int v = 0; v < 48; v++) first[t][v] = all.get(t, v);
        LlamaRuntime.Logits rest = prefill.forward(seq, 10, 14); // a second prefill continues from position 10
        LlamaRuntime.Session decode = rt.newSession(24);
        for (int t = 0; t < 24; t++) {
            LlamaRuntime.Logits one = decode.forward(seq[t]);
            for (int v = 0; v < 48; v++) {
                float want = t < 10 ? first[t][v] : rest.get(t - 10, v);
                assertEquals(want, one.get(0, v), 1e-4, "position " + t + " token " + v);
            }
        }
        assertEquals(24, decode.position());
        assertThrows(IllegalStateException.class, () -> decode.forward(3));
        decode.reset();
        assertEquals(first[0][4], decode.forward(seq[0]).get(0, 4), 1e-6);
    }

    @Test
    void longPrefillsRunInBatchesAndNllAndLastLogitsAgreeWithFullLogits() {
        LlamaConfig c = new LlamaConfig(32, 40, 2, 4, 2, 48, 300, 10000f, 1e-5f, true);
        LlamaModel m = TinyModels.random(c, 19);
        LlamaRuntime rt = new LlamaRuntime(m);
        int n = LlamaRuntime.BATCH * 2 + 17;
        int[] seq = tokens(n + 1, 48, 4);
        LlamaRuntime.Logits all = rt.newSession(n).forward(seq, 0, n);
        assertEquals(n, all.rows());
        double[] nll = rt.newSession(n).nll(seq, 0, n, seq, 1);
        for (int r = 0; r < n; r++) assertEquals(-all.logProb(r, seq[r + 1]), nll[r], 1e-5, "row " + r);
        LlamaRuntime.Logits last = rt.newSession(n).forwardLast(seq, 0, n);
        assertEquals(1, last.rows());
        for (int v = 0; v < 48; v++) assertEquals(all.get(n - 1, v), last.get(0, v), 1e-5);
        // the batches see each other through the KV cache: one token at a time gives the same numbers
        LlamaRuntime.Session decode = rt.newSession(n);
        for (int t = 0; t < n; t++) {
            LlamaRuntime.Logits one = decode.forward(seq[t]);
            if (t % 50 == 0 || t == n - 1) assertEquals(all.get(t, 7), one.get(0, 7), 1e-4, "position " + t);
        }
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        // big enough that prefill and decode both split rows and heads across threads
        LlamaConfig c = new LlamaConfig(128, 344, 2, 8, 4, 300, 32, 10000f, 1e-5f, false);
        LlamaModel m = quantized(TinyModels.random(c, 29), GgmlType.Q8_0);
        int[] seq = tokens(32, c.vocabSize(), 6);
        // the Vector API's float reductions may round otherwise before the JIT compiles them: compare warm code
        for (int i = 0; i < 3; i++) logitsOf(m, seq, 1);
        float[] one = logitsOf(m, seq, 1);
        assertArrayEquals(one, logitsOf(m, seq, 2), "2 threads");
        assertArrayEquals(one, logitsOf(m, seq, 3), "3 threads");
    }

    /** Prefill of 24 tokens, then 8 decoded one at a time, on {@code threads} threads: all logits. */
    private static float[] logitsOf(LlamaModel m, int[] seq, int threads) {
        int V = m.config().vocabSize();
        LlamaRuntime rt = new LlamaRuntime(new LlamaWeights(m), Kernels.preferred(), RowKernels.preferred(), ParallelRows.of(threads));
        assertEquals(threads, rt.threads());
        LlamaRuntime.Session s = rt.newSession(seq.length);
        float[] out = new float[seq.length * V];
        System.arraycopy(s.forward(seq, 0, 24).data(), 0, out, 0, 24 * V);
        for (int t = 24; t < seq.length; t++) System.arraycopy(s.forward(seq[t]).data(), 0, out, t * V, V);
        return out;
    }

    /** Every matrix (all 2-D tensors) quantized with the codec's RTN. */
    static LlamaModel quantized(LlamaModel f32, GgmlType type) {
        Map<String, Tensor> q = new HashMap<>();
        for (Tensor t : f32.tensors().values()) {
            if (t.shape().length != 2) continue;
            GgmlType target = type.fitsRow(t.cols()) ? type : GgmlType.F16;
            q.put(t.name(), TensorCodecs.quantize(t.name(), t.shape(), t.toFloats(), target));
        }
        return f32.withTensors(q);
    }

    @Test
    void quantizedMatricesRunInTheirStoredTypeCloseToTheirFloatValues() {
        LlamaModel f32 = TinyModels.random(TinyModels.config(true), 23);
        LlamaModel q8 = quantized(f32, GgmlType.Q8_0);
        assertEquals(GgmlType.Q8_0, q8.tensor(TensorNames.attnQ(0)).type());
        LlamaWeights w = new LlamaWeights(q8);
        // the runtime reads the tensor's own bytes: no dequantized or transposed copy
        assertSame(q8.tensor(TensorNames.attnQ(0)).data(), w.layers[0].wq().dense().data());
        assertSame(q8.tensor(TensorNames.TOKEN_EMBD).data(), w.classifier.dense().data());
        // the reference runs on the dequantized weights in double; the runtime also quantizes activations to Q8_0
        // (0.5% per dot product, which 2 layers of uniform random weights amplify; stories260K checks it tightly)
        assertMatchesReference(q8, VectorKernels.INSTANCE, 0.03);
        assertMatchesReference(q8, ScalarKernels.INSTANCE, 0.03);
        int[] seq = {1, 4, 8, 15};
        float a = new LlamaRuntime(f32).newSession(4).forward(seq, 0, 4).get(3, 2);
        float b = new LlamaRuntime(q8).newSession(4).forward(seq, 0, 4).get(3, 2);
        assertEquals(a, b, 0.05, "Q8_0 stays close to fp32");
    }

    @Test
    void scalarAndVectorKernelsGiveTheSameLogitsOnEveryStoredType() {
        LlamaModel f32 = TinyModels.random(TinyModels.config(false), 31);
        int[] seq = tokens(12, 48, 2);
        for (GgmlType type : new GgmlType[]{GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0}) {
            LlamaModel m = quantized(f32, type);
            LlamaRuntime.Logits v = new LlamaRuntime(new LlamaWeights(m), VectorKernels.INSTANCE).newSession(12).forward(seq, 0, 12);
            LlamaRuntime.Logits s = new LlamaRuntime(new LlamaWeights(m), ScalarKernels.INSTANCE).newSession(12).forward(seq, 0, 12);
            // float types agree to rounding; in quantized ones a rounding difference can move an activation to the
            // next Q8 step, which the random layers amplify (stories260K checks the NLL within 1e-4)
            double scale = 0, worst = 0;
            for (int i = 0; i < 12 * 48; i++) {
                scale = Math.max(scale, Math.abs(s.data()[i]));
                worst = Math.max(worst, Math.abs(s.data()[i] - v.data()[i]));
            }
            System.out.printf("%s: scalar vs vector kernels, largest logit difference %.2e of %.2f%n", type, worst, scale);
            assertTrue(worst <= (type.blockSize == 1 ? 1e-6 : 0.02) * scale, type + ": largest logit difference " + worst);
        }
    }

    @Test
    void aModelMappedFromAFileRunsWithoutCopyingItsMatrices(@TempDir Path dir) throws Exception {
        LlamaModel m = quantized(TinyModels.random(TinyModels.config(false), 37), GgmlType.Q8_0);
        Path file = dir.resolve("tiny.gguf");
        GgufLlama.write(m, file, GgufLlama.WriteOptions.keepTypes("tiny"));
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel mapped = ModelFiles.open(file, arena);
            LlamaWeights w = new LlamaWeights(mapped);
            assertTrue(w.layers[1].w2().dense().data().isNative(), "a view of the mapped file");
            int[] seq = {1, 5, 9};
            assertArrayEquals(new LlamaRuntime(m).newSession(3).forward(seq, 0, 3).data(),
                    new LlamaRuntime(mapped).newSession(3).forward(seq, 0, 3).data());
            // a confined arena's memory is readable by this thread only: everything runs here, nothing fails
            LlamaRuntime confined = new LlamaRuntime(mapped, 3);
            assertTrue(confined.threadConfined());
            assertEquals(1, confined.threads());
            int[] text = tokens(60, 48, 8);
            assertEquals(Perplexity.evaluateTokens(new LlamaRuntime(m, 1), 1, text, 1).meanNll(), Perplexity.evaluateTokens(confined, 1, text, 3).meanNll(), 1e-6);
        }
        try (Arena arena = Arena.ofShared()) {
            LlamaRuntime shared = new LlamaRuntime(ModelFiles.open(file, arena), 3);
            assertTrue(!shared.threadConfined());
            assertEquals(3, shared.threads());
        }
    }

    @Test
    void badInputIsRefusedNamingWhatIsWrong() {
        LlamaModel m = TinyModels.random(TinyModels.config(true), 1);
        Map<String, Tensor> bad = new HashMap<>(m.tensors());
        bad.put(TensorNames.attnK(1), Tensor.ofFloats(TensorNames.attnK(1), new long[]{32, 32}, new float[32 * 32]));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new LlamaRuntime(m.withTensors(bad)));
        assertTrue(e.getMessage().contains("blk.1.attn_k.weight"), e.getMessage());
        LlamaRuntime.Session s = new LlamaRuntime(m).newSession(4);
        IllegalArgumentException tok = assertThrows(IllegalArgumentException.class, () -> s.forward(48));
        assertTrue(tok.getMessage().contains("48"), tok.getMessage());
        LlamaConfig c = m.config();
        LlamaConfig biased = new LlamaConfig(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen(),
                c.ropeTheta(), c.normEps(), true, "qwen2", true, RopeScaling.NONE, true);
        IllegalArgumentException bias = assertThrows(IllegalArgumentException.class,
                () -> new LlamaRuntime(new LlamaModel(biased, m.vocabulary(), m.tensors())));
        assertTrue(bias.getMessage().contains("blk.0.attn_q.bias"), bias.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ParallelRows.of(0));
    }
}
