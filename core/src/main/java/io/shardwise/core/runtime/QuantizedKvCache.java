package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;

import java.util.Arrays;

/**
 * KIVI (Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache", ICML 2024), Sec. 3.1-3.3,
 * Algorithm 1, in 8 or 4 bits: asymmetric min-max quantization {@code Q(X) = round((X - z) / s)}, {@code z = min X},
 * {@code s = (max X - min X) / (2^b - 1)}, {@code X' = z + Q(X) s}; keys per channel (each channel's values over a group
 * of G consecutive tokens share s and z: key outliers live in fixed channels), values per token (each kv head's
 * head-dim vector shares s and z). Keys and values of the newest, not yet full group of G tokens stay float32
 * (KIVI's residual) until the group fills; then the group is quantized at once. (KIVI pops values out of their
 * float32 queue one token at a time; flushing them with the keys keeps one view per group, see below.)
 * <p>
 * A query at position p sees what decoding one token at a time would show it: keys and values of the groups complete
 * once p was stored, dequantized, and the later ones in float32; so a sequence shorter than G is scored exactly as
 * with float32. A prefill batch keeps its float32 keys and values until {@link #endBatch} so each of its rows gets its
 * own view ({@link #rowsSharing} cuts tiles at group boundaries). Attention dequantizes what it reads into
 * per-reader scratch floats and runs the float kernels on them.
 * <p>
 * Memory per token per layer: {@link KvCacheType#bytesPerTokenPerLayer} (codes, plus float32 scale and zero per key
 * channel per group and per value head per token); the float32 residual adds a constant
 * {@code 2 x (G + BATCH) x kvDim} floats per layer, whatever the sequence length.
 */
final class QuantizedKvCache implements KvCache {
    private final KvCacheType type;
    private final int group, bits, levels, stride, kvDim, headSize, kvHeads, groups, residualCap;
    /** Key codes [channel][position] (stride), value codes [position][channel]; int4 packs two per byte, low nibble first. */
    private final byte[][] keyCodes, valueCodes;
    /** Key scale/zero [channel][group], value scale/zero [position][kv head]. */
    private final float[][] keyScale, keyZero, valueScale, valueZero;
    /** Float32 keys and values [channel][position - residualStart] of the open group and of the current batch. */
    private final float[][] keyResidual, valueResidual;
    private final int[] filled, residualStart;

    QuantizedKvCache(KvCacheType type, int group, LlamaConfig c, int capacity) {
        if (!type.quantized()) throw new IllegalArgumentException("a quantized KV cache needs int8 or int4, got " + type.label());
        if (group < 1) throw new IllegalArgumentException("KV-cache group size must be at least 1, got " + group);
        this.type = type;
        this.group = group;
        this.bits = type.bits();
        this.levels = (1 << bits) - 1;
        this.stride = LlamaWeights.roundUp(capacity);
        this.kvDim = c.kvDim();
        this.headSize = c.headSize();
        this.kvHeads = c.nKvHeads();
        this.groups = (capacity + group - 1) / group;
        this.residualCap = group + LlamaRuntime.BATCH;
        int layers = c.nLayers();
        long keyCount = (long) kvDim * stride, valueCount = (long) capacity * kvDim;
        this.keyCodes = new byte[layers][Math.toIntExact(bits == 8 ? keyCount : (keyCount + 1) / 2)];
        this.valueCodes = new byte[layers][Math.toIntExact(bits == 8 ? valueCount : (valueCount + 1) / 2)];
        this.keyScale = new float[layers][Math.multiplyExact(kvDim, groups)];
        this.keyZero = new float[layers][kvDim * groups];
        this.valueScale = new float[layers][Math.multiplyExact(capacity, kvHeads)];
        this.valueZero = new float[layers][capacity * kvHeads];
        this.keyResidual = new float[layers][Math.multiplyExact(kvDim, residualCap)];
        this.valueResidual = new float[layers][kvDim * residualCap];
        this.filled = new int[layers];
        this.residualStart = new int[layers];
    }

    @Override
    public KvCacheType type() {
        return type;
    }

    @Override
    public int stride() {
        return stride;
    }

    @Override
    public void store(int layer, int pos, float[] k, int kOff, float[] v, int vOff) {
        if (pos != filled[layer]) {
            throw new IllegalStateException("quantized KV cache: layer " + layer + " expects position " + filled[layer] + " next, got " + pos);
        }
        int slot = pos - residualStart[layer];
        if (slot >= residualCap) throw new IllegalStateException("quantized KV cache: more than " + LlamaRuntime.BATCH + " positions in one batch");
        float[] kr = keyResidual[layer], vr = valueResidual[layer];
        for (int j = 0; j < kvDim; j++) {
            kr[j * residualCap + slot] = k[kOff + j];
            vr[j * residualCap + slot] = v[vOff + j];
        }
        filled[layer] = pos + 1;
        if ((pos + 1) % group == 0) { // the group is full: its keys (per channel) and values (per token) become codes
            int g = pos / group, first = slot + 1 - group;
            for (int j = 0; j < kvDim; j++) {
                quantize(kr, j * residualCap + first, 1, group, keyCodes[layer], j * stride + g * group, keyScale[layer], keyZero[layer], j * groups + g);
            }
            for (int i = 0; i < group; i++) {
                int p = g * group + i;
                for (int h = 0; h < kvHeads; h++) {
                    quantize(vr, h * headSize * residualCap + first + i, residualCap, headSize, valueCodes[layer], p * kvDim + h * headSize,
                            valueScale[layer], valueZero[layer], p * kvHeads + h);
                }
            }
        }
    }

    @Override
    public void endBatch(int layer) {
        int start = residualStart[layer], keep = filled[layer] / group * group;
        if (keep == start) return;
        for (float[] res : new float[][]{keyResidual[layer], valueResidual[layer]}) {
            for (int j = 0; j < kvDim; j++) System.arraycopy(res, j * residualCap + keep - start, res, j * residualCap, filled[layer] - keep);
        }
        residualStart[layer] = keep;
    }

    @Override
    public void reset() {
        Arrays.fill(filled, 0);
        Arrays.fill(residualStart, 0);
    }

    @Override
    public int rowsSharing(int first, int maxRows) {
        return Math.min(maxRows, group - (first + 1) % group);
    }

    @Override
    public Reader reader() {
        return new QuantizedReader();
    }

    /** Asymmetric min-max quantization of the n floats x[off + i * step] into codes[cOff + i], its scale and zero at pIdx. */
    private void quantize(float[] x, int off, int step, int n, byte[] codes, int cOff, float[] scale, float[] zero, int pIdx) {
        float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            min = Math.min(min, x[off + i * step]);
            max = Math.max(max, x[off + i * step]);
        }
        float range = max - min, inv = range > 0 ? levels / range : 0f;
        if (!Float.isFinite(inv)) inv = 0f; // a subnormal range: every value is min to within the range
        for (int i = 0; i < n; i++) {
            int q = Math.round((x[off + i * step] - min) * inv);
            setCode(codes, cOff + i, Math.max(0, Math.min(levels, q)));
        }
        scale[pIdx] = range / levels;
        zero[pIdx] = min;
    }

    private int code(byte[] codes, int i) {
        return bits == 8 ? codes[i] & 0xFF : (codes[i >> 1] >> ((i & 1) << 2)) & 0xF;
    }

    private void setCode(byte[] codes, int i, int c) {
        if (bits == 8) {
            codes[i] = (byte) c;
        } else {
            int shift = (i & 1) << 2;
            codes[i >> 1] = (byte) ((codes[i >> 1] & ~(0xF << shift)) | (c << shift));
        }
    }

    /** Scratch floats of one kv head, filled as far as the queries so far needed: dequantized, then float32 keys. */
    private final class QuantizedReader implements Reader {
        private final float[] keys = new float[Math.multiplyExact(headSize, stride)], values = new float[headSize * stride];
        private int layer, head;
        /** Positions [0, dequantized) of the scratch hold dequantized codes, [dequantized, raw) float32 from the residual. */
        private int dequantized, raw;

        @Override
        public void head(int layer, int kvHead) {
            this.layer = layer;
            this.head = kvHead;
            dequantized = raw = 0;
        }

        @Override
        public void prepare(int first, int rows) {
            int end = first + rows, complete = (first + 1) / group * group; // groups full once position `first` was stored
            if (end > filled[layer]) throw new IllegalStateException("positions up to " + end + " read but " + filled[layer] + " stored");
            if (complete > dequantized) {
                dequantizeKeys(dequantized, complete);
                dequantizeValues(dequantized, complete);
                dequantized = complete;
            }
            int from = Math.max(raw, dequantized);
            if (end > from) {
                copyResidual(keyResidual[layer], keys, from, end);
                copyResidual(valueResidual[layer], values, from, end);
                raw = end;
            }
        }

        private void dequantizeKeys(int from, int to) {
            byte[] codes = keyCodes[layer];
            float[] s = keyScale[layer], z = keyZero[layer];
            for (int d = 0; d < headSize; d++) {
                int j = head * headSize + d;
                for (int p = from; p < to; p++) {
                    int g = j * groups + p / group;
                    keys[d * stride + p] = z[g] + code(codes, j * stride + p) * s[g];
                }
            }
        }

        private void copyResidual(float[] res, float[] scratch, int from, int to) {
            int start = residualStart[layer];
            for (int d = 0; d < headSize; d++) {
                int j = head * headSize + d;
                System.arraycopy(res, j * residualCap + from - start, scratch, d * stride + from, to - from);
            }
        }

        private void dequantizeValues(int from, int to) {
            byte[] codes = valueCodes[layer];
            float[] s = valueScale[layer], z = valueZero[layer];
            for (int p = from; p < to; p++) {
                int pi = p * kvHeads + head, base = p * kvDim + head * headSize;
                for (int d = 0; d < headSize; d++) values[d * stride + p] = z[pi] + code(codes, base + d) * s[pi];
            }
        }

        @Override
        public float[] keys() {
            return keys;
        }

        @Override
        public int keysOffset() {
            return 0;
        }

        @Override
        public float[] values() {
            return values;
        }

        @Override
        public int valuesOffset() {
            return 0;
        }
    }
}
