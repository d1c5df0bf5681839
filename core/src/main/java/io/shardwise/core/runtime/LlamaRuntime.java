package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;


/**
 * The Llama forward pass in plain Java as llama2.c's run.c computes it, over weights in their stored types
 * ({@link RowKernels} dot products, activations quantized as llama.cpp does): RMSNorm, RoPE (interleaved or NEOX,
 * scaled), grouped-query attention with optional q/k/v biases, SwiGLU MLP, tied or untied classifier.
 * Output rows of every linear layer and the attention heads are split across {@link ParallelRows}; each value
 * is computed the same way whatever the thread count. A {@link Session} holds one sequence's KV cache (float32, or
 * KIVI int8/int4: {@link #withKvCache}) and runs several tokens at once (prefill, {@link CausalAttention}) or one at
 * a time (decode). The runtime is immutable and may be shared; a session belongs to one thread.
 */
public final class LlamaRuntime {
    /** Tokens pushed through the layers at once: bounds the activation buffers whatever the prefill length. */
    static final int BATCH = 128;
    /** A piece of a parallel linear layer (or of attention) holds at least this many multiply-adds. */
    static final int MIN_WORK = 1 << 15;

    private final LlamaWeights w;
    private final Kernels k;
    private final RowKernels rk;
    private final ParallelRows par;
    /** Drop each layer's mapped pages from this process once the layer has run (see {@link #releasingPages()}). */
    private final boolean releasePages;
    private final KvCacheType kvType;
    private final int kvGroup;

    public LlamaRuntime(LlamaModel model) {
        this(new LlamaWeights(model), Kernels.preferred());
    }

    /** A runtime on all {@link ParallelRows#defaultThreads()} threads. */
    public LlamaRuntime(LlamaModel model, int threads) {
        this(new LlamaWeights(model), Kernels.preferred(), RowKernels.preferred(), ParallelRows.of(threads));
    }

    /** With the row kernels of the same set as {@code kernels} (scalar twins with scalar twins). */
    public LlamaRuntime(LlamaWeights weights, Kernels kernels) {
        this(weights, kernels, kernels instanceof ScalarKernels ? ScalarRowKernels.INSTANCE : VectorRowKernels.INSTANCE,
                ParallelRows.preferred());
    }

    public LlamaRuntime(LlamaWeights weights, Kernels kernels, RowKernels rowKernels, ParallelRows parallel) {
        this(weights, kernels, rowKernels, parallel, false, KvCacheType.F32, KvCacheType.DEFAULT_GROUP);
    }

    private LlamaRuntime(LlamaWeights weights, Kernels kernels, RowKernels rowKernels, ParallelRows parallel, boolean releasePages,
                         KvCacheType kvType, int kvGroup) {
        this.w = weights;
        this.k = kernels;
        this.rk = rowKernels;
        this.par = weights.threadConfined() ? ParallelRows.of(1) : parallel; // confined memory: the owner thread alone
        this.releasePages = releasePages;
        this.kvType = kvType;
        this.kvGroup = kvGroup;
    }

    /**
     * The same runtime, but after each layer (and the classifier) has run, its mapped weight pages are dropped from
     * this process (they stay in the page cache and fault back in): resident memory stays near one layer plus the
     * largest tensor instead of the whole model. Results are unchanged.
     */
    public LlamaRuntime releasingPages() {
        return new LlamaRuntime(w, k, rk, par, true, kvType, kvGroup);
    }

    /** The same runtime whose sessions keep their KV cache as {@code type} (KIVI groups of {@value KvCacheType#DEFAULT_GROUP} tokens). */
    public LlamaRuntime withKvCache(KvCacheType type) {
        return withKvCache(type, KvCacheType.DEFAULT_GROUP);
    }

    /** The same runtime whose sessions keep their KV cache as {@code type}, key channels quantized over groups of {@code group} tokens. */
    public LlamaRuntime withKvCache(KvCacheType type, int group) {
        if (type == null) throw new IllegalArgumentException("KV-cache type is missing (known: " + KvCacheType.labels() + ")");
        if (group < 1) throw new IllegalArgumentException("KV-cache group size must be at least 1, got " + group);
        return new LlamaRuntime(w, k, rk, par, releasePages, type, group);
    }

    public KvCacheType kvCache() {
        return kvType;
    }

    public LlamaConfig config() {
        return w.config;
    }

    public Kernels kernels() {
        return k;
    }

    public RowKernels rowKernels() {
        return rk;
    }

    public int threads() {
        return par.threads();
    }

    /** True when the weights may be read by the thread that opened them only (see {@link LlamaWeights#threadConfined()}). */
    public boolean threadConfined() {
        return w.threadConfined();
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

    /** Sees the input of linear layers as a session runs them (calibration statistics); called on the session's thread. */
    @FunctionalInterface
    public interface LinearObserver {
        /** {@code weights} (which share the input) are about to multiply T rows of n floats at {@code x[off...]}. */
        void input(Linear[] weights, float[] x, int off, int T, int n);
    }

    /** One sequence: KV cache, attention over it and work buffers. */
    public final class Session {
        private final int capacity;
        private final KvCache cache;
        private final CausalAttention attention;
        private final RotaryTable rope;
        /** The linear layers' runner, with its per-piece activations. */
        private final LinearPass linears;
        private int position;
        private int rowsAllocated;
        private float[] x, xb, xb2, q, kk, vv, att, hb, hb2;
        private float[] logits = new float[0];

        Session(int capacity) {
            LlamaConfig c = w.config;
            if (capacity <= 0) throw new IllegalArgumentException("session capacity must be positive, got " + capacity);
            this.capacity = capacity;
            this.cache = KvCache.create(kvType, kvGroup, c, capacity);
            this.attention = new CausalAttention(c, k, par, cache);
            this.rope = new RotaryTable(c, capacity);
            this.linears = new LinearPass(rk, par);
        }

        public int position() {
            return position;
        }

        public int capacity() {
            return capacity;
        }

        /** Calls {@code o} with the input of every linear layer this session runs from now on (null: none). */
        public void observe(LinearObserver o) {
            linears.observer = o;
        }

        /** The token embeddings of {@code tokens[off, off+len)}: len x dim floats, the residual stream's start. */
        public float[] embed(int[] tokens, int off, int len) {
            int dim = w.config.dim();
            for (int t = 0; t < len; t++) {
                int tok = tokens[off + t];
                if (tok < 0 || tok >= w.config.vocabSize()) throw new IllegalArgumentException("token id " + tok + " is outside the vocabulary of " + w.config.vocabSize());
            }
            float[] out = new float[Math.multiplyExact(len, dim)];
            for (int t = 0; t < len; t++) w.embed(tokens[off + t], out, t * dim);
            return out;
        }

        /**
         * Runs {@code T} residual-stream states ({@code hidden}, T x dim) through layers [from, to) at the current
         * position (advancing it, filling those layers' KV cache) and returns the states after layer {@code to - 1}.
         * With {@code from == 0} on {@link #embed} output this is the model's own forward pass, cut after a layer.
         */
        public float[] layers(float[] hidden, int T, int from, int to) {
            LlamaConfig c = w.config;
            int dim = c.dim();
            if (from < 0 || to > w.layers.length || from > to) throw new IllegalArgumentException("layers [" + from + ", " + to + ") of " + w.layers.length);
            if ((long) T * dim != hidden.length) throw new IllegalArgumentException(T + " tokens of " + dim + " but " + hidden.length + " values");
            if (position + T > capacity) throw new IllegalStateException("sequence of " + (position + T) + " positions exceeds the session capacity " + capacity);
            ensureRows(Math.min(T, BATCH));
            float[] out = new float[hidden.length];
            for (int b = 0; b < T; b += BATCH) {
                int n = Math.min(BATCH, T - b);
                System.arraycopy(hidden, b * dim, x, 0, n * dim);
                for (int l = from; l < to; l++) {
                    layer(l, n);
                    if (releasePages) w.releaseLayer(l);
                }
                System.arraycopy(x, 0, out, b * dim, n * dim);
                position += n;
            }
            return out;
        }

        /** The final RMSNorm of T states (the classifier's input). */
        public float[] outputNormed(float[] hidden, int T) {
            int dim = w.config.dim();
            float[] out = new float[hidden.length];
            for (int t = 0; t < T; t++) k.rmsnorm(hidden, t * dim, w.outputNorm, out, t * dim, dim, w.config.normEps());
            return out;
        }

        /** Empties the KV cache: the next token is at position 0. */
        public void reset() {
            position = 0;
            cache.reset();
        }

        public Logits forward(int token) {
            return forward(new int[]{token}, 0, 1);
        }

        /** Appends {@code len} tokens at the current position and returns the logits at each of them. */
        public Logits forward(int[] tokens, int off, int len) {
            int vocab = w.config.vocabSize();
            begin(tokens, off, len);
            float[] all = len <= BATCH ? logitsBuffer(len) : new float[Math.multiplyExact(len, vocab)];
            for (int b = 0; b < len; b += BATCH) {
                int T = Math.min(BATCH, len - b);
                hidden(tokens, off + b, T);
                float[] block = logitsBuffer(T);
                classify(xb, 0, T, block, 0);
                if (block != all) System.arraycopy(block, 0, all, b * vocab, T * vocab);
            }
            return new Logits(all, len, vocab, vocab, k);
        }

        /** Appends {@code len} tokens like {@link #forward(int[], int, int)} but computes the logits of the last one only. */
        public Logits forwardLast(int[] tokens, int off, int len) {
            int vocab = w.config.vocabSize();
            begin(tokens, off, len);
            for (int b = 0; b < len; b += BATCH) hidden(tokens, off + b, Math.min(BATCH, len - b));
            int last = (len - 1) % BATCH;
            float[] out = logitsBuffer(1);
            classify(xb, last * w.config.dim(), 1, out, 0);
            return new Logits(out, 1, vocab, vocab, k);
        }

        /**
         * Appends {@code len} tokens and returns {@code -log p(targets[tOff + r])} at each of them, the same numbers as
         * {@code -forward(...).logProb(r, target)}, holding the logits of a few positions at a time rather than all.
         */
        public double[] nll(int[] tokens, int off, int len, int[] targets, int tOff) {
            int vocab = w.config.vocabSize();
            begin(tokens, off, len);
            double[] out = new double[len];
            for (int b = 0; b < len; b += BATCH) {
                int T = Math.min(BATCH, len - b);
                hidden(tokens, off + b, T);
                Logits view = new Logits(logitsBuffer(T), T, vocab, vocab, k);
                classify(xb, 0, T, view.data(), 0);
                for (int r = 0; r < T; r++) out[b + r] = -view.logProb(r, targets[tOff + b + r]);
            }
            return out;
        }

        /** The session's logits buffer, grown to at least {@code rows} rows (at most {@link #BATCH} are kept). */
        private float[] logitsBuffer(int rows) {
            int need = Math.multiplyExact(rows, w.config.vocabSize());
            if (logits.length < need) logits = new float[need];
            return logits;
        }

        private void begin(int[] tokens, int off, int len) {
            LlamaConfig c = w.config;
            if (len <= 0) throw new IllegalArgumentException("forward needs at least one token");
            if (position + len > capacity) {
                throw new IllegalStateException("sequence of " + (position + len) + " positions exceeds the session capacity " + capacity);
            }
            for (int t = 0; t < len; t++) {
                int tok = tokens[off + t];
                if (tok < 0 || tok >= c.vocabSize()) throw new IllegalArgumentException("token id " + tok + " is outside the vocabulary of " + c.vocabSize());
            }
            ensureRows(Math.min(len, BATCH));
        }

        /** Runs T tokens through every layer at the current position (advancing it); leaves the final-normed states in xb. */
        private void hidden(int[] tokens, int off, int T) {
            int dim = w.config.dim();
            for (int t = 0; t < T; t++) w.embed(tokens[off + t], x, t * dim);
            for (int l = 0; l < w.layers.length; l++) {
                layer(l, T);
                if (releasePages) w.releaseLayer(l);
            }
            rmsnorm(x, w.outputNorm, xb, T);
            position += T;
        }

        private void classify(float[] in, int inOff, int T, float[] out, int outOff) {
            int vocab = w.config.vocabSize();
            linears.run(in, inOff, T, new Projection[]{w.classifier}, new float[][]{out}, new int[]{outOff}, new int[]{vocab});
            if (releasePages) LlamaWeights.release(w.classifier);
        }

        private void layer(int l, int T) {
            LlamaConfig c = w.config;
            LlamaWeights.Layer L = w.layers[l];
            int dim = c.dim(), qDim = c.qDim(), kvDim = c.kvDim(), hid = c.hiddenDim();
            rmsnorm(x, L.attnNorm(), xb, T);
            linears.run(xb, 0, T, new Projection[]{L.wq(), L.wk(), L.wv()}, new float[][]{q, kk, vv}, new int[3], new int[]{qDim, kvDim, kvDim});
            addBias(q, L.bq(), T);
            addBias(kk, L.bk(), T);
            addBias(vv, L.bv(), T);
            float scale = (float) (1.0 / Math.sqrt(c.headSize())); // run.c divides scores by sqrt(head_size); folded into q once
            for (int t = 0; t < T; t++) {
                int pos = position + t;
                rope.rotate(k, q, t * qDim, qDim, pos);
                rope.rotate(k, kk, t * kvDim, kvDim, pos);
                for (int i = t * qDim; i < (t + 1) * qDim; i++) q[i] *= scale;
                cache.store(l, pos, kk, t * kvDim, vv, t * kvDim);
            }
            attention.run(l, q, position, T, att);
            cache.endBatch(l);
            linears.run(att, 0, T, new Projection[]{L.wo()}, new float[][]{xb2}, new int[1], new int[]{dim});
            for (int i = 0; i < T * dim; i++) x[i] += xb2[i];
            rmsnorm(x, L.ffnNorm(), xb, T);
            linears.run(xb, 0, T, new Projection[]{L.w1(), L.w3()}, new float[][]{hb, hb2}, new int[2], new int[]{hid, hid});
            k.swiglu(hb, hb2, T * hid);
            linears.run(hb, 0, T, new Projection[]{L.w2()}, new float[][]{xb2}, new int[1], new int[]{dim});
            for (int i = 0; i < T * dim; i++) x[i] += xb2[i];
        }

        private void addBias(float[] v, float[] bias, int T) {
            if (bias == null) return;
            int n = bias.length;
            for (int t = 0; t < T; t++) for (int i = 0; i < n; i++) v[t * n + i] += bias[i];
        }

        private void rmsnorm(float[] in, float[] weight, float[] out, int T) {
            int dim = w.config.dim();
            for (int t = 0; t < T; t++) k.rmsnorm(in, t * dim, weight, out, t * dim, dim, w.config.normEps());
        }

        private void ensureRows(int T) {
            if (T <= rowsAllocated) return;
            LlamaConfig c = w.config;
            int dim = c.dim(), qDim = c.qDim(), kvDim = c.kvDim(), hid = c.hiddenDim();
            x = new float[T * dim];
            xb = new float[T * dim];
            xb2 = new float[T * dim];
            q = new float[T * qDim];
            att = new float[T * qDim];
            kk = new float[T * kvDim];
            vv = new float[T * kvDim];
            hb = new float[T * hid];
            hb2 = new float[T * hid];
            rowsAllocated = T;
        }
    }
}
