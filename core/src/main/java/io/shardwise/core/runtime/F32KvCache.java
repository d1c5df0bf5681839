package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;

/** The float32 KV cache: keys and values transposed per layer, [kv head][head dim][position], read in place. */
final class F32KvCache implements KvCache {
    private final int stride, kvDim, headSize;
    private final float[][] keys, values;

    F32KvCache(LlamaConfig c, int capacity) {
        this.stride = LlamaWeights.roundUp(capacity);
        this.kvDim = c.kvDim();
        this.headSize = c.headSize();
        this.keys = new float[c.nLayers()][Math.multiplyExact(kvDim, stride)];
        this.values = new float[c.nLayers()][Math.multiplyExact(kvDim, stride)];
    }

    @Override
    public KvCacheType type() {
        return KvCacheType.F32;
    }

    @Override
    public int stride() {
        return stride;
    }

    @Override
    public void store(int layer, int pos, float[] k, int kOff, float[] v, int vOff) {
        float[] kc = keys[layer], vc = values[layer];
        for (int j = 0; j < kvDim; j++) {
            kc[j * stride + pos] = k[kOff + j];
            vc[j * stride + pos] = v[vOff + j];
        }
    }

    @Override
    public void endBatch(int layer) {
    }

    @Override
    public void reset() {
    }

    @Override
    public int rowsSharing(int first, int maxRows) {
        return maxRows;
    }

    @Override
    public Reader reader() {
        return new Reader() {
            private int layer, offset;

            @Override
            public void head(int layer, int kvHead) {
                this.layer = layer;
                this.offset = kvHead * headSize * stride;
            }

            @Override
            public void prepare(int first, int rows) {
            }

            @Override
            public float[] keys() {
                return keys[layer];
            }

            @Override
            public int keysOffset() {
                return offset;
            }

            @Override
            public float[] values() {
                return values[layer];
            }

            @Override
            public int valuesOffset() {
                return offset;
            }
        };
    }
}
