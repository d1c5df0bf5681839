package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q4_K: per 256 values fp16 d and dmin, eight 6-bit scales and mins packed in 12 bytes, and 128 bytes of
 * nibbles; value = d * sc * q - dmin * m with q in 0..15 (quantize_row_q4_K_ref, quantize_row_q4_K_impl with an
 * importance matrix, dequantize_row_q4_K). Within each 64 values, value l is the low nibble of byte l, value l + 32
 * its high nibble.
 */
public final class Q4_KCodec implements TensorCodec {
    static final int QK_K = SuperBlockRows.QK_K;
    static final int BLOCK_BYTES = 144;
    private static final int QS_OFFSET = 16;

    @Override
    public TensorType type() {
        return GgmlType.Q4_K;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        SuperBlockRows.checkQuantize(GgmlType.Q4_K, n, rowLength);
        ScaleMinK4Block s = newScratch();
        byte[] block = new byte[BLOCK_BYTES];
        for (int b = 0; b < n / QK_K; b++) {
            int off = srcOffset + b * QK_K;
            s.searchReference(src, off, block);
            finish(src, off, s, block, dst, dstOffset + (long) b * BLOCK_BYTES);
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance == null) {
            quantize(src, srcOffset, n, rowLength, dst, dstOffset);
            return;
        }
        SuperBlockRows.checkImportance(GgmlType.Q4_K, n, rowLength, importance);
        ScaleMinK4Block s = newScratch();
        byte[] block = new byte[BLOCK_BYTES];
        int perRow = rowLength / QK_K;
        for (int b = 0; b < n / QK_K; b++) {
            int off = srcOffset + b * QK_K;
            s.searchImportance(src, off, importance, (b % perRow) * QK_K, block, false);
            finish(src, off, s, block, dst, dstOffset + (long) b * BLOCK_BYTES);
        }
    }

    static ScaleMinK4Block newScratch() {
        return new ScaleMinK4Block(15, -1.f, 20);
    }

    private static void finish(float[] x, int off, ScaleMinK4Block s, byte[] block, MemorySegment dst, long at) {
        s.requantize(x, off, block);
        byte[] L = s.L;
        for (int j = 0; j < QK_K; j += 64) {
            int q = QS_OFFSET + j / 2;
            for (int l = 0; l < 32; ++l) block[q + l] = (byte) (L[j + l] | (L[j + l + 32] << 4));
        }
        MemorySegment.copy(block, 0, dst, ValueLayout.JAVA_BYTE, at, BLOCK_BYTES);
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        SuperBlockRows.checkDequantize(GgmlType.Q4_K, firstElement, n, rowLength);
        long firstBlock = firstElement / QK_K;
        byte[] x = new byte[BLOCK_BYTES];
        for (int b = 0; b < n / QK_K; b++) {
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, (firstBlock + b) * BLOCK_BYTES, x, 0, BLOCK_BYTES);
            float d = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(x, 0));
            float min = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(x, 2));
            int y = dstOffset + b * QK_K;
            int q = QS_OFFSET;
            for (int is = 0; is < 8; is += 2) {
                float d1 = d * KQuantMinSearch.scaleK4(is, x, 4), m1 = min * KQuantMinSearch.minK4(is, x, 4);
                float d2 = d * KQuantMinSearch.scaleK4(is + 1, x, 4), m2 = min * KQuantMinSearch.minK4(is + 1, x, 4);
                for (int l = 0; l < 32; ++l) dst[y++] = d1 * (x[q + l] & 0xF) - m1;
                for (int l = 0; l < 32; ++l) dst[y++] = d2 * ((x[q + l] & 0xFF) >> 4) - m2;
                q += 32;
            }
        }
    }
}
