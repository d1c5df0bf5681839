package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.TensorType;

import java.util.Arrays;

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
        /** Per parallel piece: prepared activations. */
        private final Activation[][] acts;
        private int position;
        private int rowsAllocated;
        private float[] x, xb, xb2, q, kk, vv, att, hb, hb2;
        private float[] logits = new float[0];
        private LinearObserver observer;

        Session(int capacity) {
            LlamaConfig c = w.config;
            if (capacity <= 0) throw new IllegalArgumentException("session capacity must be positive, got " + capacity);
            this.capacity = capacity;
            this.cache = KvCache.create(kvType, kvGroup, c, capacity);
            this.attention = new CausalAttention(c, k, par, cache);
            this.rope = new RotaryTable(c, capacity);
            this.acts = new Activation[par.threads()][0];
        }

        public int position() {
            return position;
        }

        public int capacity() {
            return capacity;
        }

        /** Calls {@code o} with the input of every linear layer this session runs from now on (null: none). */
        public void observe(LinearObserver o) {
            this.observer = o;
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
            linear(in, inOff, T, new Projection[]{w.classifier}, new float[][]{out}, new int[]{outOff}, new int[]{vocab});
            if (releasePages) LlamaWeights.release(w.classifier);
        }

        private void layer(int l, int T) {
            LlamaConfig c = w.config;
            LlamaWeights.Layer L = w.layers[l];
            int dim = c.dim(), kvDim = c.kvDim(), hid = c.hiddenDim();
            rmsnorm(x, L.attnNorm(), xb, T);
            linear(xb, 0, T, new Projection[]{L.wq(), L.wk(), L.wv()}, new float[][]{q, kk, vv}, new int[3], new int[]{dim, kvDim, kvDim});
            addBias(q, L.bq(), T);
            addBias(kk, L.bk(), T);
            addBias(vv, L.bv(), T);
            float scale = (float) (1.0 / Math.sqrt(c.headSize())); // run.c divides scores by sqrt(head_size); folded into q once
            for (int t = 0; t < T; t++) {
                int pos = position + t;
                rope.rotate(k, q, t * dim, dim, pos);
                rope.rotate(k, kk, t * kvDim, kvDim, pos);
                for (int i = t * dim; i < (t + 1) * dim; i++) q[i] *= scale;
                cache.store(l, pos, kk, t * kvDim, vv, t * kvDim);
            }
            attention.run(l, q, position, T, att);
            cache.endBatch(l);
            linear(att, 0, T, new Projection[]{L.wo()}, new float[][]{xb2}, new int[1], new int[]{dim});
            for (int i = 0; i < T * dim; i++) x[i] += xb2[i];
            rmsnorm(x, L.ffnNorm(), xb, T);
            linear(xb, 0, T, new Projection[]{L.w1(), L.w3()}, new float[][]{hb, hb2}, new int[2], new int[]{hid, hid});
            k.swiglu(hb, hb2, T * hid);
            linear(hb, 0, T, new Projection[]{L.w2()}, new float[][]{xb2}, new int[1], new int[]{dim});
            for (int i = 0; i < T * dim; i++) x[i] += xb2[i];
        }

        /**
         * {@code ys[m][yOffs[m] + t*ldys[m] + r] = (W x + B (A x))[r]} of layer {@code ps[m]} for T tokens x at
         * {@code in[inOff + t*n ...]}: the dense weights and the A factors, which share the input, in one pass over
         * their rows; then each B over its own A x, added (or written, when W is absent).
         */
        private void linear(float[] in, int inOff, int T, Projection[] ps, float[][] ys, int[] yOffs, int[] ldys) {
            int count = 0;
            for (Projection p : ps) count += (p.dense() != null ? 1 : 0) + (p.lowRank() ? 1 : 0);
            Linear[] ws = new Linear[count];
            Sparse24Rows[] packed = new Sparse24Rows[count];
            float[][] outs = new float[count][];
            int[] offs = new int[count], lds = new int[count];
            float[][] ax = new float[ps.length][];
            int i = 0;
            for (int m = 0; m < ps.length; m++) {
                if (ps[m].dense() == null) continue;
                ws[i] = ps[m].dense();
                packed[i] = ps[m].sparse();
                outs[i] = ys[m];
                offs[i] = yOffs[m];
                lds[i++] = ldys[m];
            }
            for (int m = 0; m < ps.length; m++) {
                if (!ps[m].lowRank()) continue;
                int rank = ps[m].rank();
                ws[i] = ps[m].loraA();
                outs[i] = ax[m] = new float[T * rank];
                lds[i++] = rank;
            }
            rows(in, inOff, T, ws, packed, outs, offs, lds);
            for (int m = 0; m < ps.length; m++) {
                Projection p = ps[m];
                if (!p.lowRank()) continue;
                Linear[] b = {p.loraB()};
                if (p.dense() == null) {
                    rows(ax[m], 0, T, b, new Sparse24Rows[1], new float[][]{ys[m]}, new int[]{yOffs[m]}, new int[]{ldys[m]});
                    continue;
                }
                int out = p.out();
                float[] bax = new float[T * out];
                rows(ax[m], 0, T, b, new Sparse24Rows[1], new float[][]{bax}, new int[1], new int[]{out});
                for (int t = 0; t < T; t++) {
                    int at = yOffs[m] + t * ldys[m];
                    for (int r = 0; r < out; r++) ys[m][at + r] += bax[t * out + r];
                }
            }
        }

        /**
         * {@code ys[m][yOffs[m] + t*ldys[m] + r] = dot(row r of ws[m], in[inOff + t*n ...])} for T tokens: the rows of all
         * matrices (which share the input) are cut into pieces across threads; each piece prepares its own copy of the
         * activations for the weight type, so pieces share nothing but the read-only input. A matrix with a packed
         * 2:4 form ({@code packed[m]} not null) runs the sparse kernel on it.
         */
        private void rows(float[] in, int inOff, int T, Linear[] ws, Sparse24Rows[] packed, float[][] ys, int[] yOffs, int[] ldys) {
            int n = ws[0].in(), total = 0;
            if (observer != null) observer.input(ws, in, inOff, T, n);
            for (Linear m : ws) total += m.out();
            int minRows = Math.max(1, MIN_WORK / Math.max(1, n * T));
            int rowsTotal = total;
            par.run(rowsTotal, minRows, 16, (piece, from, to) -> {
                Activation[] a = activations(piece, T);
                TensorType prepared = null;
                for (int m = 0, base = 0; m < ws.length && base < to; base += ws[m].out(), m++) {
                    int r0 = Math.max(from, base) - base, r1 = Math.min(to, base + ws[m].out()) - base;
                    if (r0 >= r1) continue;
                    Linear lin = ws[m];
                    Sparse24Rows sp = packed[m];
                    if (lin.type() != prepared) {
                        for (int t = 0; t < T; t++) rk.prepare(lin.type(), in, inOff + t * n, n, a[t]);
                        prepared = lin.type();
                    }
                    if (T == 1) {
                        if (sp != null) rk.matvecSparse(sp, r0, r1, a[0], ys[m], yOffs[m] + r0);
                        else rk.matvec(lin.type(), lin.data(), n, r0, r1, a[0], ys[m], yOffs[m] + r0);
                    } else if (yOffs[m] == 0) {
                        if (sp != null) rk.matmulSparse(sp, r0, r1, a, T, ys[m], ldys[m]);
                        else rk.matmul(lin.type(), lin.data(), n, r0, r1, a, T, ys[m], ldys[m]);
                    } else {
                        throw new IllegalStateException("batched output must start at offset 0");
                    }
                }
            });
        }

        private Activation[] activations(int piece, int T) {
            Activation[] a = acts[piece];
            if (a.length < T) {
                Activation[] grown = Arrays.copyOf(a, T);
                for (int i = a.length; i < T; i++) grown[i] = new Activation();
                acts[piece] = a = grown;
            }
            return a;
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
            int dim = c.dim(), kvDim = c.kvDim(), hid = c.hiddenDim();
            x = new float[T * dim];
            xb = new float[T * dim];
            xb2 = new float[T * dim];
            q = new float[T * dim];
            att = new float[T * dim];
            kk = new float[T * kvDim];
            vv = new float[T * kvDim];
            hb = new float[T * hid];
            hb2 = new float[T * hid];
            rowsAllocated = T;
        }
    }
}
