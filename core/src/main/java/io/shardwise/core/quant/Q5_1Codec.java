package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q5_1: blocks of 32 as fp16 scale d = (max - min)/31, fp16 min m, 4 bytes qh holding bit 4 of each quant and
 * 16 bytes of low nibbles, q = (uint8_t)((x - min)/d + 0.5) (ggml-quants.c quantize_row_q5_1_ref; with an importance
 * matrix quantize_row_q5_1_impl; dequantize_row_q5_1).
 */
public final class Q5_1Codec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 24;

    @Override
    public TensorType type() {
        return GgmlType.Q5_1;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        Block32.checkRows(GgmlType.Q5_1, n, rowLength);
        for (int b = 0; b < n / QK; b++) {
            int base = srcOffset + b * QK;
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = src[base + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 31;
            float id = d != 0 ? 1f / d : 0f;
            long at = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
            dst.set(Block32.I16_LE, at + 2, F16Codec.floatToHalf(min));
            int qh = 0;
            long lo = 0, hi = 0;
            for (int j = 0; j < QK / 2; j++) {
                // ggml converts straight to uint8_t with no clamp: (x - min)/d + 0.5 stays below 32
                int q0 = Block32.truncToInt((src[base + j] - min) * id + 0.5f) & 0xFF;
                int q1 = Block32.truncToInt((src[base + QK / 2 + j] - min) * id + 0.5f) & 0xFF;
                long packed = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
                if (j < 8) lo |= packed << (8 * j);
                else hi |= packed << (8 * (j - 8));
                qh |= ((q0 >> 4) & 1) << j;
                qh |= ((q1 >> 4) & 1) << (j + QK / 2);
            }
            dst.set(Block32.I32_LE, at + 4, qh);
            dst.set(Block32.I64_LE, at + 8, lo);
            dst.set(Block32.I64_LE, at + 16, hi);
        }
    }

    /** ggml's quantize_q5_1 with an importance matrix: per block, the weighted min-and-scale search make_qkx3_quants. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance == null) {
            quantize(src, srcOffset, n, rowLength, dst, dstOffset);
            return;
        }
        quantizeWeighted(src, srcOffset, n, rowLength, importance, dst, dstOffset, true);
    }

    /** The importance path; {@code lanes} false searches block by block (the scalar twin of the lane search). */
    static void quantizeWeighted(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst,
                                 long dstOffset, boolean lanes) {
        Block32.checkRows(GgmlType.Q5_1, n, rowLength);
        Block32.checkImportance(GgmlType.Q5_1, importance, rowLength);
        Block32MinSearch search = new Block32MinSearch(rowLength, 31, lanes);
        int blocksPerRow = rowLength / QK;
        for (int r = 0; r < n / rowLength; r++) {
            search.searchRow(src, srcOffset + r * rowLength, importance);
            for (int ib = 0; ib < blocksPerRow; ib++) {
                long at = dstOffset + ((long) r * blocksPerRow + ib) * BLOCK_BYTES;
                dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(search.scales[ib]));
                dst.set(Block32.I16_LE, at + 2, F16Codec.floatToHalf(-search.mins[ib]));
                dst.set(Block32.I32_LE, at + 4, Block32.highBits(search.L, ib * QK));
                Block32.writeNibbles(search.L, ib * QK, dst, at + 8);
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        Block32.checkWholeBlocks(GgmlType.Q5_1, firstElement, n);
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(Block32.I16_LE, at));
            float m = F16Codec.halfToFloat(src.get(Block32.I16_LE, at + 2));
            int qh = src.get(Block32.I32_LE, at + 4);
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, at + 8 + j) & 0xFF;
                int x0 = (q & 0x0F) | (((qh >>> j) << 4) & 0x10);
                int x1 = (q >>> 4) | ((qh >>> (j + 12)) & 0x10);
                dst[o + j] = x0 * d + m;
                dst[o + j + QK / 2] = x1 * d + m;
            }
        }
    }
}
