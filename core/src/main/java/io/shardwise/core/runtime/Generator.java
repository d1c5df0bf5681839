package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * Text generation from BOS as llama2.c's run.c {@code generate()} does it: up to {@code steps}
 * positions (BOS included, capped at seq_len), stopping early at BOS; greedy (argmax) at
 * temperature 0, else sampling from softmax(logits / temperature) with a seeded generator.
 */
public final class Generator {
    private final LlamaRuntime runtime;
    private final Tokenizer tokenizer;

    public Generator(LlamaRuntime runtime, Tokenizer tokenizer) {
        this.runtime = runtime;
        this.tokenizer = tokenizer;
    }

    public static String greedy(LlamaModel m, int steps) {
        return new Generator(new LlamaRuntime(m), new Tokenizer(m.vocabulary())).generate(steps, 0f, 0L);
    }

    public String generate(int steps, float temperature, long seed) {
        if (steps < 1) throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        if (temperature < 0 || Float.isNaN(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        int positions = Math.min(steps, runtime.config().seqLen());
        LlamaRuntime.Session s = runtime.newSession(positions);
        SplittableRandom rng = new SplittableRandom(seed);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int token = tokenizer.bos();
        for (int pos = 0; pos < positions; pos++) {
            LlamaRuntime.Logits logits = s.forward(token);
            int next = temperature == 0f ? logits.argmax(0) : sample(logits, temperature, rng);
            if (next == tokenizer.bos()) break; // run.c: BOS delimits sequences
            out.writeBytes(tokenizer.decodeBytes(token, next));
            token = next;
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static int sample(LlamaRuntime.Logits logits, float temperature, SplittableRandom rng) {
        int V = logits.vocab();
        double[] p = new double[V];
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) max = Math.max(max, logits.get(0, v) / temperature);
        double sum = 0;
        for (int v = 0; v < V; v++) sum += p[v] = Math.exp(logits.get(0, v) / temperature - max);
        double coin = rng.nextDouble() * sum, cdf = 0;
        for (int v = 0; v < V; v++) {
            cdf += p[v];
            if (coin < cdf) return v;
        }
        return V - 1;
    }
}
