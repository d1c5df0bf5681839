package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;

/**
 * The Llama forward pass in plain Java, float32, as llama2.c's run.c computes it: RMSNorm,
 * RoPE on interleaved pairs, grouped-query attention, SwiGLU MLP, tied classifier when
 * {@code output.weight} is absent. A {@link Session} holds one sequence's KV cache and buffers
 * and runs several tokens at once (prefill, causal attention) or one at a time (decode).
 * The runtime is immutable and may be shared; a session belongs to one thread.
 */
public final class LlamaRuntime {
    private final LlamaWeights w;
    private final Kernels k;

    public LlamaRuntime(LlamaModel model) {
        this(new LlamaWeights(model), Kernels.preferred());
    }

    public LlamaRuntime(LlamaWeights weights, Kernels kernels) {
        this.w = weights;
        this.k = kernels;
    }

    public LlamaConfig config() {
        return w.config;
    }

    public Kernels kernels() {
        return k;
    }

    /** A fresh sequence holding up to {@code capacity} positions. */
    public Session newSession(int capacity) {
        return new Session(capacity);
    }

    /**
     * Logits of the last forward call, {@code rows} x {@code vocab} with row stride {@code stride}.
     * A view into the session's buffer: valid until its next forward call.
     */
    public record Logits(float[] data, int rows, int vocab, int stride, Kernels kernels) {
        public float get(int row, int token) {
            return data[row * stride + token];
        }

        public int argmax(int row) {
            int best = 0, off = row * stride;
            for (int v = 1; v < vocab; v++) if (data[off + v] > data[off + best]) best = v;
            return best;
        }

        /** log sum_v exp(logit_v) of a row, computed stably. */
        public double logSumExp(int row) {
            int off = row * stride;
            float max = kernels.max(data, off, vocab);
            return max + Math.log(kernels.sumExp(data, off, vocab, max));
        }

        /** log p(token) at a row. */
        public double logProb(int row, int token) {
            return get(row, token) - logSumExp(row);
        }

        /** The row's log-softmax (all vocab entries) into {@code out}. */
        public void logSoftmax(int row, float[] out) {
            double lse = logSumExp(row);
            for (int v = 0; v < vocab; v++) out[v] = (float) (data[row * stride + v] - lse);
        }
    }

    /** One sequence: KV cache (keys and values transposed, [kv head][head dim][position]) and work buffers. */
    public final class Session {
        private static final int TILE = 4;
        private final int capacity;
        /** Row length of the cache and score rows: capacity padded so attention runs whole vectors. */
        private final int stride;
        private final float[] rowSums = new float[TILE];
        private final float[][] keys, values;
        private final float[] ropeCos, ropeSin;
        private final float[] scores;
        private int position;
        private int rowsAllocated;
        private float[] x, xb, xb2, q, kk, vv, att, hb, hb2, logits;

        Session(int capacity) {
            LlamaConfig c = w.config;
            if (capacity <= 0) throw new IllegalArgumentException("session capacity must be positive, got " + capacity);
            this.capacity = capacity;
            this.stride = LlamaWeights.roundUp(capacity);
            this.keys = new float[c.nLayers()][c.kvDim() * stride];
            this.values = new float[c.nLayers()][c.kvDim() * stride];
            this.scores = new float[TILE * stride];
            int half = c.headSize() / 2;
            this.ropeCos = new float[capacity * half];
            this.ropeSin = new float[capacity * half];
            for (int pos = 0; pos < capacity; pos++) {
                for (int j = 0; j < half; j++) {
                    // run.c: freq = 1 / theta^(head_dim / head_size) in float, angle = pos * freq
                    float freq = 1.0f / (float) Math.pow(c.ropeTheta(), (2 * j) / (float) c.headSize());
                    float angle = pos * freq;
                    ropeCos[pos * half + j] = (float) Math.cos(angle);
                    ropeSin[pos * half + j] = (float) Math.sin(angle);
                }
            }
        }

        public int position() {
            return position;
        }

        public int capacity() {
            return capacity;
        }

        /** Empties the KV cache: the next token is at position 0. */
        public void reset() {
            position = 0;
        }

        public Logits forward(int token) {
            return forward(new int[]{token}, 0, 1);
        }

        /** Appends {@code len} tokens at the current position and returns the logits at each of them. */
        public Logits forward(int[] tokens, int off, int len) {
            LlamaConfig c = w.config;
            if (len <= 0) throw new IllegalArgumentException("forward needs at least one token");
            if (position + len > capacity) {
                throw new IllegalStateException("sequence of " + (position + len) + " positions exceeds the session capacity " + capacity);
            }
            ensureRows(len);
            int dim = c.dim();
            for (int t = 0; t < len; t++) {
                int tok = tokens[off + t];
                if (tok < 0 || tok >= c.vocabSize()) throw new IllegalArgumentException("token id " + tok + " is outside the vocabulary of " + c.vocabSize());
                System.arraycopy(w.tokenEmbedding, tok * dim, x, t * dim, dim);
            }
            for (int l = 0; l < c.nLayers(); l++) layer(l, len);
            rmsnorm(x, w.outputNorm, xb, len);
            k.matmul(xb, len, dim, w.classifier, w.vocabPad, logits);
            position += len;
            return new Logits(logits, len, c.vocabSize(), w.vocabPad, k);
        }

        private void layer(int l, int T) {
            LlamaConfig c = w.config;
            LlamaWeights.Layer L = w.layers[l];
            int dim = c.dim(), kvDim = c.kvDim();
            rmsnorm(x, L.attnNorm(), xb, T);
            k.matmul(xb, T, dim, L.wq(), dim, q);
            k.matmul(xb, T, dim, L.wk(), kvDim, kk);
            k.matmul(xb, T, dim, L.wv(), kvDim, vv);
            rope(T);
            float[] kc = keys[l], vc = values[l];
            for (int t = 0; t < T; t++) {
                int pos = position + t;
                for (int j = 0; j < kvDim; j++) {
                    kc[j * stride + pos] = kk[t * kvDim + j];
                    vc[j * stride + pos] = vv[t * kvDim + j];
                }
            }
            attention(l, T);
            k.matmul(att, T, dim, L.wo(), dim, xb2);
            for (int i = 0; i < T * dim; i++) x[i] += xb2[i];
            rmsnorm(x, L.ffnNorm(), xb, T);
            k.matmul(xb, T, dim, L.w1(), w.hiddenPad, hb);
            k.matmul(xb, T, dim, L.w3(), w.hiddenPad, hb2);
            k.swiglu(hb, hb2, T * w.hiddenPad);
            k.matmul(hb, T, w.hiddenPad, L.w2(), dim, xb2);
            for (int i = 0; i < T * dim; i++) x[i] += xb2[i];
        }

        /**
         * Causal attention of the T new positions over the cache, for each head a tile of up to 4
         * positions at a time (GQA: query heads share kv heads). Scores run to a whole vector past
         * each row's last position; those entries are set to -inf, so they weigh exactly zero.
         */
        private void attention(int l, int T) {
            LlamaConfig c = w.config;
            int hs = c.headSize(), dim = c.dim(), group = c.nHeads() / c.nKvHeads();
            float[] kc = keys[l], vc = values[l];
            for (int h = 0; h < c.nHeads(); h++) {
                int kvBase = (h / group) * hs * stride;
                for (int t0 = 0; t0 < T; t0 += TILE) {
                    int rows = Math.min(TILE, T - t0);
                    int span = LlamaWeights.roundUp(position + t0 + rows);
                    k.gemm(q, t0 * dim + h * hs, dim, rows, hs, kc, kvBase, stride, span, scores, 0, stride);
                    for (int r = 0; r < rows; r++) {
                        int n = position + t0 + r + 1;
                        java.util.Arrays.fill(scores, r * stride + n, r * stride + span, Float.NEGATIVE_INFINITY);
                        rowSums[r] = k.expInPlace(scores, r * stride, span, k.max(scores, r * stride, span));
                    }
                    int out = t0 * dim + h * hs;
                    k.weightedSumT(scores, stride, rows, span, vc, kvBase, stride, hs, att, out, dim);
                    for (int r = 0; r < rows; r++) {
                        float inv = 1f / rowSums[r];
                        for (int d = 0; d < hs; d++) att[out + r * dim + d] *= inv;
                    }
                }
            }
        }

        /** run.c's RoPE: rotate each interleaved pair (2j, 2j+1) of every q and k head by pos * freq_j. */
        private void rope(int T) {
            LlamaConfig c = w.config;
            int dim = c.dim(), kvDim = c.kvDim(), hs = c.headSize(), half = hs / 2;
            float scale = (float) (1.0 / Math.sqrt(hs)); // run.c divides scores by sqrt(head_size); folded into q once
            for (int t = 0; t < T; t++) {
                int base = (position + t) * half;
                rotate(q, t * dim, dim, hs, base, half);
                rotate(kk, t * kvDim, kvDim, hs, base, half);
                for (int i = t * dim; i < (t + 1) * dim; i++) q[i] *= scale;
            }
        }

        private void rotate(float[] v, int off, int n, int hs, int base, int half) {
            for (int i = 0; i < n; i += 2) {
                int j = (i % hs) / 2;
                float fcr = ropeCos[base + j], fci = ropeSin[base + j];
                float v0 = v[off + i], v1 = v[off + i + 1];
                v[off + i] = v0 * fcr - v1 * fci;
                v[off + i + 1] = v0 * fci + v1 * fcr;
            }
        }

        private void rmsnorm(float[] in, float[] weight, float[] out, int T) {
            int dim = w.config.dim();
            for (int t = 0; t < T; t++) {
                int off = t * dim;
                float ss = k.dot(in, off, in, off, dim) / dim + w.config.normEps();
                float inv = (float) (1.0 / Math.sqrt(ss));
                for (int i = 0; i < dim; i++) out[off + i] = weight[i] * (inv * in[off + i]);
            }
        }

        private void ensureRows(int T) {
            if (T <= rowsAllocated) return;
            LlamaConfig c = w.config;
            int dim = c.dim(), kvDim = c.kvDim();
            x = new float[T * dim];
            xb = new float[T * dim];
            xb2 = new float[T * dim];
            q = new float[T * dim];
            att = new float[T * dim];
            kk = new float[T * kvDim];
            vv = new float[T * kvDim];
            hb = new float[T * w.hiddenPad];
            hb2 = new float[T * w.hiddenPad];
            logits = new float[T * w.vocabPad];
            rowsAllocated = T;
        }
    }
}
