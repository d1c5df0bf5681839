package io.shardwise.core.runtime;

/** Perplexity under the pinned protocol: tokens scored, mean negative log-likelihood (nats/token) and exp of it. */
public record PerplexityResult(long tokens, double meanNll, double ppl) {
    public static PerplexityResult of(long tokens, double nllSum) {
        double mean = tokens == 0 ? Double.NaN : nllSum / tokens;
        return new PerplexityResult(tokens, mean, Math.exp(mean));
    }
}
