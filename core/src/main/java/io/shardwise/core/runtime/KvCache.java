package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;

/**
 * One sequence's keys and values, every layer, as {@link CausalAttention} reads them: for a kv head, keys and values
 * of positions [0, n) as floats transposed ([head dim][position], row stride {@link #stride()}, padded so scores run
 * whole vectors). A session stores each new position's rotated key and value, runs attention, then ends the batch.
 */
sealed interface KvCache permits F32KvCache, QuantizedKvCache {

    static KvCache create(KvCacheType type, int group, LlamaConfig c, int capacity) {
        return type == KvCacheType.F32 ? new F32KvCache(c, capacity) : new QuantizedKvCache(type, group, c, capacity);
    }

    KvCacheType type();

    /** Row length of the float views: capacity rounded up to whole vectors. */
    int stride();

    /** Keeps the kvDim-float key and value of position {@code pos} of a layer. */
    void store(int layer, int pos, float[] k, int kOff, float[] v, int vOff);

    /** The layer's attention over the positions stored so far has run: transient full-precision state may go. */
    void endBatch(int layer);

    /** Forgets every position: the next one stored is 0. */
    void reset();

    /**
     * How many of the {@code maxRows} queries from position {@code first} on see the cache the same way, so that
     * they can share one {@link Reader#prepare} (at least 1).
     */
    int rowsSharing(int first, int maxRows);

    /** A reader for one parallel piece of attention (it may hold scratch floats). */
    Reader reader();

    /** Float views of one kv head; a reader belongs to one thread at a time. */
    interface Reader {
        /** Starts reading kv head {@code kvHead} of {@code layer}. */
        void head(int layer, int kvHead);

        /** Makes positions [0, first + rows) readable as the queries at [first, first + rows) see them. */
        void prepare(int first, int rows);

        float[] keys();

        /** Where the head's keys start in {@link #keys()}: channel d of position p is at offset + d * stride + p. */
        int keysOffset();

        float[] values();

        int valuesOffset();
    }
}
