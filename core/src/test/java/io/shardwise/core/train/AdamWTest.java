package io.shardwise.core.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdamWTest {

    @Test
    void trainingLowersTheLossAndKeepsPrunedWeightsAtZero() {
        LlamaConfig c = new LlamaConfig(16, 24, 2, 4, 2, 11, 8, 10000f, 1e-5f, true);
        LlamaModel model = TinyModels.random(c, 3);
        // prune every other weight of one matrix
        String pruned = TensorNames.ffnGate(1);
        float[] w = model.tensor(pruned).toFloats();
        for (int i = 0; i < w.length; i += 2) w[i] = 0f;
        Map<String, Tensor> repl = new HashMap<>();
        repl.put(pruned, Tensor.ofFloats(pruned, model.tensor(pruned).shape(), w));
        model = model.withTensors(repl);
        int[] in = {1, 5, 3, 9, 10, 4, 2, 7, 1, 4, 6, 8, 8, 6, 5, 3};
        int[] tg = {5, 3, 9, 10, 4, 2, 7, 0, 4, 6, 8, 8, 6, 5, 3, 0};
        try (NDManager base = NDManager.newBaseManager(); DjlLlama djl = DjlLlama.of(model, base, true);
             AdamW opt = new AdamW(djl, 0.9, 0.95, 1e-8, 0.1)) {
            assertEquals(java.util.Set.of(pruned), djl.maskedParameters());
            float first = 0, last = 0;
            for (int step = 0; step < 60; step++) {
                try (NDManager s = base.newSubManager()) {
                    NDArray inputs = s.create(in, new Shape(2, 8)), targets = s.create(tg, new Shape(2, 8));
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray loss = djl.meanNll(inputs, targets);
                        gc.backward(loss);
                        if (step == 0) first = loss.getFloat();
                        last = loss.getFloat();
                    }
                    opt.step(1e-2);
                }
            }
            assertTrue(last < first * 0.5, "loss " + first + " -> " + last);
            float[] after = djl.export().get(pruned).toFloats();
            for (int i = 0; i < after.length; i++) {
                if (i % 2 == 0) assertEquals(0f, after[i], "pruned weight " + i);
                else assertTrue(after[i] != w[i], "weight " + i + " did not move");
            }
        }
    }
}
