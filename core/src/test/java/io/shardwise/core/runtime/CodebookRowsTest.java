package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** NF4 and FP8 tensors run through the runtime's slow path (rows dequantized by their codec, then a float dot). */
class CodebookRowsTest {

    /** Every matrix of {@code m} in {@code type}, and the same values stored as F32. */
    private static LlamaModel[] quantizedAndDequantized(LlamaModel m, CodebookType type) {
        Map<String, Tensor> q = new HashMap<>(), d = new HashMap<>();
        for (Tensor t : m.tensors().values()) {
            if (t.shape().length != 2) continue;
            Tensor qt = TensorCodecs.quantize(t.name(), t.shape(), t.toFloats(), type);
            q.put(t.name(), qt);
            d.put(t.name(), Tensor.ofFloats(t.name(), t.shape(), qt.toFloats()));
        }
        return new LlamaModel[]{m.withTensors(q), m.withTensors(d)};
    }

    @Test
    void codebookModelsGiveTheLogitsOfTheirDequantizedWeights() {
        for (boolean tied : new boolean[]{true, false}) {
            LlamaModel f32 = TinyModels.random(TinyModels.config(tied), 31);
            int[] seq = {1, 4, 9, 16, 25, 36, 2, 7};
            float[] ref = new LlamaRuntime(f32).newSession(8).forward(seq, 0, seq.length).data();
            for (CodebookType type : CodebookType.values()) {
                LlamaModel[] m = quantizedAndDequantized(f32, type);
                for (Kernels k : new Kernels[]{VectorKernels.INSTANCE, ScalarKernels.INSTANCE}) {
                    RowKernels rk = k == VectorKernels.INSTANCE ? VectorRowKernels.INSTANCE : ScalarRowKernels.INSTANCE;
                    LlamaRuntime.Logits a = new LlamaRuntime(new LlamaWeights(m[0]), k, rk, ParallelRows.of(1)).newSession(8).forward(seq, 0, seq.length);
                    LlamaRuntime.Logits b = new LlamaRuntime(new LlamaWeights(m[1]), k, rk, ParallelRows.of(1)).newSession(8).forward(seq, 0, seq.length);
                    double scale = 0;
                    for (int t = 0; t < seq.length; t++) for (int v = 0; v < 48; v++) scale = Math.max(scale, Math.abs(b.get(t, v)));
                    for (int t = 0; t < seq.length; t++) {
                        for (int v = 0; v < 48; v++) {
                            // the same weights; only the float summation order of the dot products may differ
                            assertEquals(b.get(t, v), a.get(t, v), 2e-5 * scale, type + " tied=" + tied + " logit [" + t + "][" + v + "] " + k.getClass().getSimpleName());
                        }
                    }
                    assertNotEquals(ref[ref.length - 1], a.get(seq.length - 1, 47), type + " is really quantized");
                }
            }
        }
    }

    @Test
    void stories260kScoresTheSameAsItsDequantizedWeights() throws IOException {
        LlamaModel f32 = SharedData.stories260K();
        int[] ids = Arrays.copyOf(new Tokenizer(f32.vocabulary()).encode(Files.readAllBytes(SharedData.require("text/tinystories/eval_sample.txt"))), 1022);
        for (CodebookType type : new CodebookType[]{CodebookType.NF4, CodebookType.FP8_E4M3_CH}) {
            LlamaModel[] m = quantizedAndDequantized(f32, type);
            double q = Perplexity.evaluateTokens(new LlamaRuntime(m[0]), f32.vocabulary().bos(), ids, 1).meanNll();
            double d = Perplexity.evaluateTokens(new LlamaRuntime(m[1]), f32.vocabulary().bos(), ids, 1).meanNll();
            System.out.printf("stories260K %s (every matrix, ffn_down's 172-wide rows too): mean NLL %.6f, dequantized F32 %.6f%n", type, q, d);
            assertEquals(d, q, 1e-5, type.typeName());
        }
    }
}
