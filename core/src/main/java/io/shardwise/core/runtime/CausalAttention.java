package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;

import java.util.Arrays;

/**
 * Causal grouped-query attention of a batch of new positions over a {@link KvCache}, as run.c computes it: heads split
 * across threads; for each head a tile of up to {@value #TILE} positions at a time (query heads share kv heads).
 * Scores run to a whole vector past each row's last position; those entries are set to -inf, so they weigh exactly
 * zero. The queries are already scaled by 1/sqrt(head size).
 */
final class CausalAttention {
    private static final int TILE = 4;
    private final LlamaConfig c;
    private final Kernels k;
    private final ParallelRows par;
    private final KvCache cache;
    private final int stride;
    /** Per parallel piece: attention scores and row sums, the cache reader. */
    private final float[][] scores, rowSums;
    private final KvCache.Reader[] readers;

    CausalAttention(LlamaConfig c, Kernels k, ParallelRows par, KvCache cache) {
        this.c = c;
        this.k = k;
        this.par = par;
        this.cache = cache;
        this.stride = cache.stride();
        int pieces = par.threads();
        this.scores = new float[pieces][TILE * stride];
        this.rowSums = new float[pieces][TILE];
        this.readers = new KvCache.Reader[pieces];
        for (int i = 0; i < pieces; i++) readers[i] = cache.reader();
    }

    /** {@code att} (T x qDim) = attention of the queries {@code q} (T x qDim, positions [position, position+T)) in a layer. */
    void run(int layer, float[] q, int position, int T, float[] att) {
        int hs = c.headSize(), dim = c.qDim(), group = c.nHeads() / c.nKvHeads();
        long perHead = (long) T * (position + T) * hs * 2;
        int minHeads = (int) Math.max(1, Math.min(c.nHeads(), LlamaRuntime.MIN_WORK / Math.max(1, perHead)));
        par.run(c.nHeads(), minHeads, 1, (piece, h0, h1) -> {
            float[] sc = scores[piece], sums = rowSums[piece];
            KvCache.Reader kv = readers[piece];
            for (int h = h0; h < h1; h++) {
                kv.head(layer, h / group);
                for (int t0 = 0, rows; t0 < T; t0 += rows) {
                    rows = cache.rowsSharing(position + t0, Math.min(TILE, T - t0));
                    kv.prepare(position + t0, rows);
                    int span = LlamaWeights.roundUp(position + t0 + rows);
                    k.gemm(q, t0 * dim + h * hs, dim, rows, hs, kv.keys(), kv.keysOffset(), stride, span, sc, 0, stride);
                    for (int r = 0; r < rows; r++) {
                        int n = position + t0 + r + 1;
                        Arrays.fill(sc, r * stride + n, r * stride + span, Float.NEGATIVE_INFINITY);
                        sums[r] = k.expInPlace(sc, r * stride, span, k.max(sc, r * stride, span));
                    }
                    int out = t0 * dim + h * hs;
                    k.weightedSumT(sc, stride, rows, span, kv.values(), kv.valuesOffset(), stride, hs, att, out, dim);
                    for (int r = 0; r < rows; r++) {
                        float inv = 1f / sums[r];
                        for (int d = 0; d < hs; d++) att[out + r * dim + d] *= inv;
                    }
                }
            }
        });
    }
}
