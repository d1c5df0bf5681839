package io.shardwise.distiller;

import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;
import io.shardwise.core.runtime.Tokenizer;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LogitDistillationTest {

    private static Path shared() {
        Path data = Path.of(System.getProperty("shardwise.shared", "../shared")).resolve("data");
        Path bin = data.resolve("stories260K/stories260K.bin");
        Assumptions.assumeTrue(Files.isRegularFile(bin) && Files.isRegularFile(data.resolve("text/tinystories/train_head.txt")),
                "skipped: " + bin + " or TinyStories text absent (../shared/data)");
        return data;
    }

    /** 2:4 magnitude pruning along rows: in every group of 4 consecutive weights, the 2 smallest |w| become 0. */
    static Map<String, Tensor> prune24(LlamaModel m) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int l = 0; l < m.config().nLayers(); l++) {
            for (String name : TensorNames.blockMatrices(l)) {
                Tensor t = m.tensor(name);
                float[] w = t.toFloats();
                for (int g = 0; g < w.length; g += 4) {
                    Integer[] idx = {g, g + 1, g + 2, g + 3};
                    java.util.Arrays.sort(idx, (a, b) -> Float.compare(Math.abs(w[a]), Math.abs(w[b])));
                    w[idx[0]] = 0f;
                    w[idx[1]] = 0f;
                }
                out.put(name, Tensor.ofFloats(name, t.shape(), w));
            }
        }
        return out;
    }

    @Test
    void kdLowersThePerplexityOfA24PrunedStories260KAndKeepsItsZeros() throws Exception {
        Path data = shared();
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel source = Llama2cCheckpoint.read(data.resolve("stories260K/stories260K.bin"), data.resolve("stories260K/tok512.bin"), arena);
            LlamaModel pruned = source.withTensors(prune24(source));
            Path eval = data.resolve("text/tinystories/eval_sample.txt");
            PerplexityResult before = Perplexity.evaluateFile(pruned, eval, 0);
            int[] tokens = new Tokenizer(source.vocabulary()).encode(Files.readAllBytes(data.resolve("text/tinystories/train_head.txt")));
            var s = new LogitDistillation.Settings(40, 2e-3, 1.0, 128, 4, 42);
            long t0 = System.nanoTime();
            LogitDistillation.Result r = LogitDistillation.distill(pruned, source, tokens, s, ShardInput.Progress.NONE);
            double secs = (System.nanoTime() - t0) / 1e9;
            LlamaModel student = pruned.withTensors(r.tensors());
            PerplexityResult after = Perplexity.evaluateFile(student, eval, 0);
            PerplexityResult fp32 = Perplexity.evaluateFile(source, eval, 0);
            System.out.printf("stories260K eval_sample ppl: fp32 %.4f, 2:4 pruned %.4f, after kd %.4f (kd loss %.4f -> %.4f, %.1f s)%n",
                    fp32.ppl(), before.ppl(), after.ppl(), r.firstLoss(), r.tailLoss(), secs);
            assertTrue(after.ppl() < before.ppl() * 0.5, "kd did not lower ppl enough: " + before.ppl() + " -> " + after.ppl());
            assertTrue(r.tailLoss() < r.firstLoss(), r.firstLoss() + " -> " + r.tailLoss());
            long zeros = 0;
            for (int l = 0; l < source.config().nLayers(); l++) {
                for (String name : TensorNames.blockMatrices(l)) {
                    float[] w0 = pruned.tensor(name).toFloats(), w1 = student.tensor(name).toFloats();
                    for (int i = 0; i < w0.length; i += 4) {
                        int z = 0;
                        for (int k = 0; k < 4; k++) {
                            if (w0[i + k] == 0f) {
                                assertEquals(0f, w1[i + k], name + "[" + (i + k) + "] was pruned and moved");
                                zeros++;
                            }
                            if (w1[i + k] == 0f) z++;
                        }
                        assertEquals(2, z, name + " group " + i / 4 + " is not 2:4 after kd");
                    }
                }
            }
            assertEquals(zeros, r.zerosKept());
            assertEquals(source.tensors().keySet(), r.tensors().keySet());
        }
    }

    @Test
    void badSettingsNameTheField() {
        var e = assertThrows(IllegalArgumentException.class, () -> new LogitDistillation.Settings(10, 1e-3, 0, 16, 2, 0));
        assertTrue(e.getMessage().contains("distill.temperature"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> KdTechnique.settings(Map.of("steps", "ten")));
        assertTrue(e.getMessage().contains("distill.steps"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> KdTechnique.settings(Map.of("lr", "-1")));
        assertTrue(e.getMessage().contains("distill.lr"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> KdTechnique.settings(Map.of("tempreature", "2")));
        assertTrue(e.getMessage().contains("distill.tempreature"), e.getMessage());
        var d = KdTechnique.settings(Map.of());
        assertEquals(new LogitDistillation.Settings(200, 1e-3, 2.0, 128, 8, 0), d);
    }
}
