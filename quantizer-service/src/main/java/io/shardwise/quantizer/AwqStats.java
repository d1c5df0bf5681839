package io.shardwise.quantizer;

import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.LlamaRuntime;

import java.util.HashMap;
import java.util.Map;

/**
 * What {@link Awq} needs from calibration, per linear input (linears that share an input share one entry): the mean
 * |x| of each channel over every token, and the Gram matrix X^T X of a strided token subsample of at most
 * {@code maxTokens} tokens (output errors are measured through it). Memory: n^2 doubles per input of n channels.
 */
public final class AwqStats implements LlamaRuntime.LinearObserver {
    /** The statistics of one input of {@code n} channels. */
    public static final class Input {
        final int n;
        final double[] absSum;
        final double[] gram;
        long tokens;
        long sampled;

        Input(int n) {
            this.n = n;
            this.absSum = new double[n];
            this.gram = new double[Math.multiplyExact(n, n)];
        }

        /** Mean |x| per channel (s_X of the paper). */
        public double[] meanAbs() {
            double[] m = new double[n];
            for (int j = 0; j < n; j++) m[j] = tokens == 0 ? 0 : absSum[j] / tokens;
            return m;
        }

        /** The subsample's X^T X, row-major n x n (live: folding scales it in place). */
        public double[] gram() {
            return gram;
        }

        public long sampledTokens() {
            return sampled;
        }

        /** The input becomes x / s: the Gram matrix becomes diag(1/s) G diag(1/s). */
        void divide(float[] s) {
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) gram[i * n + j] /= (double) s[i] * s[j];
        }
    }

    private final Map<String, Input> byTensor = new HashMap<>();
    private final long stride;

    /** {@code totalTokens}: the tokens one calibration pass shows each input (for the subsample's stride). */
    public AwqStats(long totalTokens, int maxTokens) {
        if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be positive, got " + maxTokens);
        this.stride = Math.max(1, (totalTokens + maxTokens - 1) / maxTokens);
    }

    @Override
    public void input(Linear[] weights, float[] x, int off, int T, int n) {
        Input in = byTensor.computeIfAbsent(weights[0].name(), k -> new Input(n));
        for (Linear w : weights) byTensor.putIfAbsent(w.name(), in);
        for (int t = 0; t < T; t++) {
            int base = off + t * n;
            for (int j = 0; j < n; j++) in.absSum[j] += Math.abs(x[base + j]);
            if (in.tokens++ % stride != 0) continue;
            in.sampled++;
            for (int i = 0; i < n; i++) {
                double xi = x[base + i];
                if (xi == 0) continue;
                int row = i * n;
                for (int j = 0; j < n; j++) in.gram[row + j] += xi * x[base + j];
            }
        }
    }

    /** The statistics of a linear's input, null when calibration never ran it. */
    public Input of(String tensor) {
        return byTensor.get(tensor);
    }
}
