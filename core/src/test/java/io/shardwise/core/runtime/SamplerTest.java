package io.shardwise.core.runtime;

import io.shardwise.core.runtime.Sampler.Sampling;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {

    /** One row of logits whose softmax is {@code probs}. */
    private static LlamaRuntime.Logits row(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) l[i] = (float) Math.log(probs[i]);
        return new LlamaRuntime.Logits(l, 1, l.length, l.length, Kernels.preferred());
    }

    private static int[] histogram(Sampling s, LlamaRuntime.Logits logits, int draws) {
        Sampler sampler = new Sampler(s);
        int[] h = new int[logits.vocab()];
        for (int i = 0; i < draws; i++) h[sampler.next(logits, 0)]++;
        return h;
    }

    @Test
    void greedyIsTheArgmax() {
        LlamaRuntime.Logits l = row(0.1, 0.2, 0.4, 0.3);
        int[] h = histogram(Sampling.GREEDY, l, 50);
        assertEquals(50, h[2]);
    }

    @Test
    void temperatureOneDrawsFromTheSoftmax() {
        LlamaRuntime.Logits l = row(0.5, 0.3, 0.15, 0.05);
        int draws = 20_000;
        int[] h = histogram(new Sampling(1f, 0f, 7), l, draws);
        double[] want = {0.5, 0.3, 0.15, 0.05};
        for (int v = 0; v < 4; v++) assertEquals(want[v], h[v] / (double) draws, 0.015, "token " + v);
        // a low temperature sharpens: p ~ p^(1/T), so at T = 0.25 token 0 gets 0.5^4 / sum = 0.879
        int[] cold = histogram(new Sampling(0.25f, 0f, 7), l, draws);
        assertEquals(0.879, cold[0] / (double) draws, 0.015);
    }

    @Test
    void topPDrawsOnlyFromTheNucleusRenormalized() {
        LlamaRuntime.Logits l = row(0.3, 0.5, 0.15, 0.05);
        int draws = 20_000;
        // top-p 0.7: {1 (0.5), 0 (0.3)} reach 0.8 >= 0.7; tokens 2 and 3 never come
        int[] h = histogram(new Sampling(1f, 0.7f, 11), l, draws);
        assertEquals(0, h[2] + h[3]);
        assertEquals(0.625, h[1] / (double) draws, 0.015);
        // a nucleus smaller than the top token keeps just it
        assertEquals(draws, histogram(new Sampling(1f, 0.01f, 11), l, draws)[1]);
    }

    @Test
    void theSeedFixesTheDraws() {
        LlamaRuntime.Logits l = row(0.25, 0.25, 0.25, 0.25);
        Sampler a = new Sampler(new Sampling(1f, 0.9f, 42)), b = new Sampler(new Sampling(1f, 0.9f, 42)), c = new Sampler(new Sampling(1f, 0.9f, 43));
        StringBuilder sa = new StringBuilder(), sb = new StringBuilder(), sc = new StringBuilder();
        for (int i = 0; i < 64; i++) {
            sa.append(a.next(l, 0));
            sb.append(b.next(l, 0));
            sc.append(c.next(l, 0));
        }
        assertEquals(sa.toString(), sb.toString());
        assertTrue(!sa.toString().equals(sc.toString()), "another seed draws otherwise");
    }

    @Test
    void badSettingsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Sampling(-1f, 0f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(Float.NaN, 0f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(1f, 1.5f, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(1f, -0.1f, 0));
    }
}
