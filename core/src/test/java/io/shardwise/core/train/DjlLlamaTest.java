package io.shardwise.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DjlLlamaTest {

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void logitsMatchThePlainJavaForwardPass(boolean tied) {
        LlamaConfig c = new LlamaConfig(16, 24, 2, 4, 2, 11, 8, 10000f, 1e-5f, tied);
        LlamaModel model = TinyModels.random(c, 42);
        int[][] seqs = {{1, 5, 3, 9, 10, 0, 2, 7}, {1, 4, 4, 4, 8, 6, 5, 3}};
        try (NDManager base = NDManager.newBaseManager(); DjlLlama djl = DjlLlama.of(model, base, false);
             NDManager step = base.newSubManager()) {
            int[] flat = new int[16];
            System.arraycopy(seqs[0], 0, flat, 0, 8);
            System.arraycopy(seqs[1], 0, flat, 8, 8);
            float[] got = djl.logits(step.create(flat, new Shape(2, 8))).toFloatArray();
            ReferenceLlama ref = new ReferenceLlama(model);
            double maxErr = 0;
            for (int b = 0; b < 2; b++) {
                double[][] want = ref.logits(seqs[b]);
                for (int t = 0; t < 8; t++) {
                    for (int v = 0; v < 11; v++) maxErr = Math.max(maxErr, Math.abs(want[t][v] - got[(b * 8 + t) * 11 + v]));
                }
            }
            assertTrue(maxErr < 1e-4, "max |logit difference| " + maxErr);
        }
    }

    /** Training and the project's runtime must agree: same logits on the same model. */
    @Test
    void logitsMatchTheProjectRuntime() {
        logitsMatchTheProjectRuntime(new LlamaConfig(32, 40, 2, 4, 1, 19, 12, 10000f, 1e-5f, true));
    }

    /** As after attention-head pruning: 6 heads of 4 (q width 24) over 3 kv heads, dim 32 (head_dim is not dim / n_heads). */
    @Test
    void logitsMatchTheProjectRuntimeWithHeadDimOtherThanDimOverHeads() {
        LlamaConfig c = new LlamaConfig(32, 40, 2, 6, 3, 19, 12, 10000f, 1e-5f, true, LlamaConfig.LLAMA, false, null, false, 4);
        assertEquals(24, c.qDim());
        logitsMatchTheProjectRuntime(c);
    }

    private static void logitsMatchTheProjectRuntime(LlamaConfig c) {
        LlamaModel model = TinyModels.random(c, 9);
        int[] seq = {1, 5, 3, 9, 10, 0, 2, 7, 18, 17, 4, 4};
        try (NDManager base = NDManager.newBaseManager(); DjlLlama djl = DjlLlama.of(model, base, false);
             NDManager step = base.newSubManager()) {
            float[] got = djl.logits(step.create(seq, new Shape(1, seq.length))).toFloatArray();
            LlamaRuntime.Logits want = new LlamaRuntime(model).newSession(seq.length).forward(seq, 0, seq.length);
            double maxErr = 0;
            for (int t = 0; t < seq.length; t++) for (int v = 0; v < 19; v++) maxErr = Math.max(maxErr, Math.abs(want.get(t, v) - got[t * 19 + v]));
            assertTrue(maxErr < 1e-4, "max |logit difference| vs LlamaRuntime " + maxErr);
        }
    }

    @Test
    void exportGivesBackTheSameTensorsWithGgmlShapes() {
        LlamaConfig c = new LlamaConfig(16, 24, 1, 4, 2, 11, 8, 10000f, 1e-5f, false);
        LlamaModel model = TinyModels.random(c, 7);
        try (NDManager base = NDManager.newBaseManager(); DjlLlama djl = DjlLlama.of(model, base, true)) {
            Map<String, Tensor> out = djl.export();
            assertEquals(model.tensors().keySet(), out.keySet());
            for (Tensor t : model.tensors().values()) {
                assertArrayEquals(t.shape(), out.get(t.name()).shape(), t.name());
                assertArrayEquals(t.toFloats(), out.get(t.name()).toFloats(), t.name());
            }
        }
    }
}
