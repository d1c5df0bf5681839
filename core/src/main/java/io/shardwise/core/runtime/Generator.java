package io.shardwise.core.runtime;

import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Sampler.Sampling;

import java.util.Arrays;

/**
 * Text generation as llama2.c's run.c {@code generate()} does it: [BOS] + the encoded prompt fill the first
 * positions (one batched prefill here), then one token per position up to {@code steps} positions (prompt included,
 * capped at seq_len), stopping early at BOS or EOS; tokens are picked by a {@link Sampler}. The text is the prompt
 * followed by the generated tokens, as run.c prints them.
 */
public final class Generator {
    private final LlamaRuntime runtime;
    private final TextTokenizer tokenizer;

    public Generator(LlamaRuntime runtime, TextTokenizer tokenizer) {
        this.runtime = runtime;
        this.tokenizer = tokenizer;
    }

    /** A generator with the model's own vocabulary: where generation gets its tokenizer. */
    public static Generator of(LlamaModel m, LlamaRuntime runtime) {
        return new Generator(runtime, Tokenizers.forVocabulary(m.vocabulary()));
    }

    public static String greedy(LlamaModel m, int steps) {
        return of(m, new LlamaRuntime(m)).generate("", steps, Sampling.GREEDY).text();
    }

    /** From BOS alone, sampling at {@code temperature} (0 = greedy) from the whole distribution. */
    public String generate(int steps, float temperature, long seed) {
        return generate("", steps, new Sampling(temperature, 0f, seed)).text();
    }

    /**
     * What one generation produced and how fast: the prompt's tokens (BOS included) in one prefill, then
     * {@code decoded} single-token forward passes.
     */
    public record Generation(String text, int[] tokens, int promptTokens, double prefillSeconds, int decoded, double decodeSeconds) {
        public double promptTokensPerSecond() {
            return promptTokens / prefillSeconds;
        }

        public double generatedTokensPerSecond() {
            return decoded == 0 ? Double.NaN : decoded / decodeSeconds;
        }

        /** The tokens generated after the prompt. */
        public int generatedTokens() {
            return tokens.length - promptTokens;
        }
    }

    public Generation generate(String prompt, int steps, Sampling sampling) {
        if (steps < 1) throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        int[] text = prompt.isEmpty() ? new int[0] : tokenizer.encode(prompt);
        int[] promptTokens = new int[text.length + 1];
        promptTokens[0] = tokenizer.bos();
        System.arraycopy(text, 0, promptTokens, 1, text.length);
        int positions = Math.min(steps, runtime.config().seqLen());
        if (promptTokens.length > positions) {
            throw new IllegalArgumentException("the prompt is " + promptTokens.length + " tokens (BOS included) but only " + positions
                    + " positions are allowed (steps " + steps + ", model seq_len " + runtime.config().seqLen() + ")");
        }
        Sampler sampler = new Sampler(sampling);
        LlamaRuntime.Session s = runtime.newSession(positions);
        int[] tokens = Arrays.copyOf(promptTokens, positions + 1);
        int n = promptTokens.length;
        long t0 = System.nanoTime();
        LlamaRuntime.Logits logits = s.forwardLast(promptTokens, 0, n);
        long t1 = System.nanoTime();
        int decoded = 0;
        while (true) {
            int next = sampler.next(logits, 0);
            if (next == tokenizer.bos() || next == tokenizer.eos()) break; // run.c: BOS delimits sequences
            tokens[n++] = next;
            if (s.position() >= positions) break;
            logits = s.forward(next);
            decoded++;
        }
        long t2 = System.nanoTime();
        String out = tokenizer.decode(tokens[0], Arrays.copyOfRange(tokens, 1, n));
        return new Generation(out, Arrays.copyOf(tokens, n), promptTokens.length,
                (t1 - t0) / 1e9, decoded, (t2 - t1) / 1e9);
    }
}
