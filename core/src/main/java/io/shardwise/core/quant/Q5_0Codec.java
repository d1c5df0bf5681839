package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q5_0: blocks of 32 as fp16 scale d = max/-16 (max = the signed value of largest magnitude), 4 bytes qh holding
 * bit 4 of each quant (bit j for value j) and 16 bytes of low nibbles, q = min(31, (int)(x/d + 16.5))
 * (ggml-quants.c quantize_row_q5_0_ref; with an importance matrix quantize_row_q5_0_impl; dequantize_row_q5_0).
 */
public final class Q5_0Codec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 22;

    @Override
    public TensorType type() {
        return GgmlType.Q5_0;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        Block32.checkRows(GgmlType.Q5_0, n, rowLength);
        for (int b = 0; b < n / QK; b++) {
            int base = srcOffset + b * QK;
            float amax = 0, max = 0;
            for (int j = 0; j < QK; j++) {
                float v = src[base + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -16f;
            float id = d != 0 ? 1f / d : 0f;
            long at = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
            int qh = 0;
            long lo = 0, hi = 0;
            for (int j = 0; j < QK / 2; j++) {
                int q0 = Math.min(31, (byte) Block32.truncToInt(src[base + j] * id + 16.5f));
                int q1 = Math.min(31, (byte) Block32.truncToInt(src[base + QK / 2 + j] * id + 16.5f));
                long packed = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
                if (j < 8) lo |= packed << (8 * j);
                else hi |= packed << (8 * (j - 8));
                qh |= ((q0 >> 4) & 1) << j;
                qh |= ((q1 >> 4) & 1) << (j + QK / 2);
            }
            dst.set(Block32.I32_LE, at + 2, qh);
            dst.set(Block32.I64_LE, at + 6, lo);
            dst.set(Block32.I64_LE, at + 14, hi);
        }
    }

    /** ggml's quantize_q5_0 with an importance matrix: per block, the weighted signed-scale search make_qx_quants. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance == null) {
            quantize(src, srcOffset, n, rowLength, dst, dstOffset);
            return;
        }
        Block32.checkRows(GgmlType.Q5_0, n, rowLength);
        Block32.checkImportance(GgmlType.Q5_0, importance, rowLength);
        float[] weight = new float[QK];
        byte[] L = new byte[QK];
        float[] scratch = new float[KQuantScaleSearch.vectorScratchLength()];
        int blocksPerRow = rowLength / QK;
        for (int r = 0; r < n / rowLength; r++) {
            int row = srcOffset + r * rowLength;
            float sigma2 = Block32.meanSquare(src, row, rowLength);
            for (int ib = 0; ib < blocksPerRow; ib++) {
                int xb = row + ib * QK;
                Block32.importanceWeights(src, xb, importance, ib * QK, sigma2, weight, 0);
                float d = KQuantScaleSearch.makeQxQuantsVector(QK, 16, src, xb, L, 0, weight, 0, scratch);
                long at = dstOffset + ((long) r * blocksPerRow + ib) * BLOCK_BYTES;
                dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
                dst.set(Block32.I32_LE, at + 2, Block32.highBits(L, 0));
                Block32.writeNibbles(L, 0, dst, at + 6);
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        Block32.checkWholeBlocks(GgmlType.Q5_0, firstElement, n);
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(Block32.I16_LE, at));
            int qh = src.get(Block32.I32_LE, at + 2);
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, at + 6 + j) & 0xFF;
                int x0 = ((q & 0x0F) | (((qh >>> j) << 4) & 0x10)) - 16;
                int x1 = ((q >>> 4) | ((qh >>> (j + 12)) & 0x10)) - 16;
                dst[o + j] = x0 * d;
                dst[o + j + QK / 2] = x1 * d;
            }
        }
    }
}
