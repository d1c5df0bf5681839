package io.shardwise.core.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

class DjlSmokeTest {
    @Test
    void autogradGivesTheGradientOfASquare() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[]{1f, 2f, 3f});
            x.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray y = x.mul(x).sum();
                gc.backward(y);
            }
            assertArrayEquals(new float[]{2f, 4f, 6f}, x.getGradient().toFloatArray(), 1e-6f);
        }
    }
}
