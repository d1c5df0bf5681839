package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q4_1: blocks of 32 as fp16 scale d = (max - min)/15, fp16 min m and 16 bytes of nibbles
 * q = min(15, (int)((x - min)/d + 0.5)), value j in the low nibble of byte j, value j+16 in its high nibble
 * (ggml-quants.c quantize_row_q4_1_ref; with an importance matrix quantize_row_q4_1_impl; dequantize_row_q4_1).
 */
public final class Q4_1Codec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 20;

    @Override
    public TensorType type() {
        return GgmlType.Q4_1;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        Block32.checkRows(GgmlType.Q4_1, n, rowLength);
        for (int b = 0; b < n / QK; b++) {
            int base = srcOffset + b * QK;
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (int j = 0; j < QK; j++) {
                float v = src[base + j];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 15;
            float id = d != 0 ? 1f / d : 0f;
            long at = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
            dst.set(Block32.I16_LE, at + 2, F16Codec.floatToHalf(min));
            long lo = 0, hi = 0;
            for (int j = 0; j < QK / 2; j++) {
                int q0 = Math.min(15, (byte) Block32.truncToInt((src[base + j] - min) * id + 0.5f));
                int q1 = Math.min(15, (byte) Block32.truncToInt((src[base + QK / 2 + j] - min) * id + 0.5f));
                long packed = (q0 | (q1 << 4)) & 0xFF;
                if (j < 8) lo |= packed << (8 * j);
                else hi |= packed << (8 * (j - 8));
            }
            dst.set(Block32.I64_LE, at + 4, lo);
            dst.set(Block32.I64_LE, at + 12, hi);
        }
    }

    /** ggml's quantize_q4_1 with an importance matrix: per block, the weighted min-and-scale search make_qkx3_quants. */
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
        Block32.checkRows(GgmlType.Q4_1, n, rowLength);
        Block32.checkImportance(GgmlType.Q4_1, importance, rowLength);
        Block32MinSearch search = new Block32MinSearch(rowLength, 15, lanes);
        int blocksPerRow = rowLength / QK;
        for (int r = 0; r < n / rowLength; r++) {
            search.searchRow(src, srcOffset + r * rowLength, importance);
            for (int ib = 0; ib < blocksPerRow; ib++) {
                long at = dstOffset + ((long) r * blocksPerRow + ib) * BLOCK_BYTES;
                dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(search.scales[ib]));
                dst.set(Block32.I16_LE, at + 2, F16Codec.floatToHalf(-search.mins[ib]));
                Block32.writeNibbles(search.L, ib * QK, dst, at + 4);
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        Block32.checkWholeBlocks(GgmlType.Q4_1, firstElement, n);
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(Block32.I16_LE, at));
            float m = F16Codec.halfToFloat(src.get(Block32.I16_LE, at + 2));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, at + 4 + j) & 0xFF;
                dst[o + j] = (q & 0x0F) * d + m;
                dst[o + j + QK / 2] = (q >>> 4) * d + m;
            }
        }
    }
}
