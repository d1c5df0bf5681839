package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LlamaRuntimeTest {

    private static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    private static void assertMatchesReference(LlamaModel m, Kernels kernels) {
        int[] seq = tokens(20, m.config().vocabSize(), 3);
        double[][] want = new ReferenceForward(m).logits(seq);
        LlamaRuntime.Logits got = new LlamaRuntime(new LlamaWeights(m), kernels).newSession(24).forward(seq, 0, seq.length);
        for (int t = 0; t < seq.length; t++) {
            for (int v = 0; v < m.config().vocabSize(); v++) {
                assertEquals(want[t][v], got.get(t, v), 1e-3, "logit [" + t + "][" + v + "] with " + kernels.getClass().getSimpleName());
            }
        }
    }

    @Test
    void prefillMatchesTheTextbookForwardPassWithBothKernelSets() {
        for (boolean tied : new boolean[]{true, false}) {
            LlamaModel m = TinyModels.random(TinyModels.config(tied), 11);
            assertMatchesReference(m, VectorKernels.INSTANCE);
            assertMatchesReference(m, ScalarKernels.INSTANCE);
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
    void quantizedTensorsAreDequantizedOnceAndMatchTheirFloatValues() {
        LlamaModel f32 = TinyModels.random(TinyModels.config(true), 23);
        Map<String, Tensor> q8 = new HashMap<>(f32.tensors());
        for (int l = 0; l < 2; l++) {
            for (String n : new String[]{TensorNames.attnQ(l), TensorNames.attnK(l), TensorNames.ffnGate(l)}) {
                Tensor t = f32.tensor(n);
                q8.put(n, TensorCodecs.quantize(n, t.shape(), t.toFloats(), GgmlType.Q8_0));
            }
        }
        LlamaModel quantized = f32.withTensors(q8);
        assertEquals(GgmlType.Q8_0, quantized.tensor(TensorNames.attnQ(0)).type());
        assertMatchesReference(quantized, VectorKernels.INSTANCE);
        int[] seq = {1, 4, 8, 15};
        float a = new LlamaRuntime(f32).newSession(4).forward(seq, 0, 4).get(3, 2);
        float b = new LlamaRuntime(quantized).newSession(4).forward(seq, 0, 4).get(3, 2);
        assertEquals(a, b, 0.05, "Q8_0 stays close to fp32");
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
    }
}
