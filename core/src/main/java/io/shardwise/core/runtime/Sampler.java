package io.shardwise.core.runtime;

import java.util.SplittableRandom;

/**
 * Picks the next token from a logits row as llama2.c's run.c {@code sample()} does: argmax at temperature 0;
 * else softmax(logits / temperature) and either a draw from the whole distribution or, with 0 < top-p < 1,
 * nucleus sampling (Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration", sec. 3.1): a draw
 * from the smallest set of most likely tokens whose probability reaches top-p. Draws come from a seeded generator.
 */
public final class Sampler {
    private final Sampling sampling;
    private final SplittableRandom rng;
    private double[] probs = new double[0];
    private Integer[] order = new Integer[0];

    /** How to pick tokens: temperature (0 = greedy), top-p (0 or >= 1 = off) and the seed of the draws. */
    public record Sampling(float temperature, float topP, long seed) {
        public static final Sampling GREEDY = new Sampling(0f, 0f, 0L);

        public Sampling {
            if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
            if (!(topP >= 0) || topP > 1) throw new IllegalArgumentException("top-p must be in [0, 1], got " + topP);
        }

        public boolean greedy() {
            return temperature == 0f;
        }
    }

    public Sampler(Sampling sampling) {
        this.sampling = sampling;
        this.rng = new SplittableRandom(sampling.seed());
    }

    public Sampling sampling() {
        return sampling;
    }

    /** The next token from row {@code row} of the logits. */
    public int next(LlamaRuntime.Logits logits, int row) {
        if (sampling.greedy()) return logits.argmax(row);
        int V = logits.vocab();
        if (probs.length < V) probs = new double[V];
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) max = Math.max(max, logits.get(row, v) / sampling.temperature());
        double sum = 0;
        for (int v = 0; v < V; v++) sum += probs[v] = Math.exp(logits.get(row, v) / sampling.temperature() - max);
        double coin = rng.nextDouble();
        float topP = sampling.topP();
        return topP > 0 && topP < 1 ? nucleus(V, sum, topP, coin) : draw(V, sum, coin);
    }

    private int draw(int V, double sum, double coin) {
        double target = coin * sum, cdf = 0;
        for (int v = 0; v < V; v++) {
            cdf += probs[v];
            if (target < cdf) return v;
        }
        return V - 1; // rounding left the coin past the last bucket
    }

    /**
     * Sorts by probability (ties by token id), keeps the prefix whose mass first reaches topP, draws within it.
     * Tokens below (1 - topP) / (V - 1) of the mass cannot be in that prefix (run.c's cutoff), so only the rest is sorted.
     */
    private int nucleus(int V, double sum, float topP, double coin) {
        if (order.length < V) order = new Integer[V];
        double cutoff = Math.min(1.0, (1 - topP) / Math.max(1, V - 1) * sum); // the most likely token (prob 1 here) always stays
        int n = 0;
        for (int v = 0; v < V; v++) if (probs[v] >= cutoff) order[n++] = v;
        java.util.Arrays.sort(order, 0, n, (a, b) -> probs[a] != probs[b] ? Double.compare(probs[b], probs[a]) : Integer.compare(a, b));
        double limit = topP * sum, mass = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            mass += probs[order[i]];
            if (mass >= limit) {
                keep = i + 1;
                break;
            }
        }
        double target = coin * mass, cdf = 0;
        for (int i = 0; i < keep; i++) {
            cdf += probs[order[i]];
            if (target < cdf) return order[i];
        }
        return order[keep - 1];
    }
}
