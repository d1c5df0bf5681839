package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DivergenceTest {
    private static final String TEXT = "the cat sat on the mat and the dog ran to the park with a ball ".repeat(6);

    @Test
    void aModelAgainstItselfHasZeroKlAndFullAgreementAndCoarserQuantizationDivergesMore() {
        LlamaModel f32 = TinyModels.random(TinyModels.config(true), 5);
        Divergence self = Divergence.of(f32, f32, TEXT, 200, 32);
        assertEquals(0.0, self.kl(), 1e-9);
        assertEquals(1.0, self.top1());
        assertTrue(self.positions() > 40, "positions " + self.positions());
        Divergence q8 = Divergence.of(f32, LlamaRuntimeTest.quantized(f32, GgmlType.Q8_0), TEXT, 200, 32);
        Divergence q4 = Divergence.of(f32, LlamaRuntimeTest.quantized(f32, GgmlType.Q4_0), TEXT, 200, 32);
        assertTrue(q8.kl() > 0 && q8.kl() < q4.kl(), "KL q8 " + q8.kl() + " q4 " + q4.kl());
        assertTrue(q4.top1() <= q8.top1(), "top1 q8 " + q8.top1() + " q4 " + q4.top1());
        assertEquals(self.positions(), q4.positions());
    }

    @Test
    void badArgumentsAreRefused() {
        LlamaModel f32 = TinyModels.random(TinyModels.config(true), 5);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Divergence.of(f32, f32, TEXT, 200, 1)).getMessage().contains("ctx"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Divergence.of(f32, f32, "", 200, 32)).getMessage().contains("no tokens"));
    }
}
