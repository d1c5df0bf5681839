package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q5_K: per 256 values fp16 d and dmin, eight 6-bit scales and mins packed in 12 bytes, 32 bytes of high bits
 * and 128 bytes of low nibbles; value = d * sc * q - dmin * m with q in 0..31 (quantize_row_q5_K_ref,
 * quantize_row_q5_K_impl with an importance matrix, dequantize_row_q5_K). Within the k-th 64 values, value l is the
 * low nibble of byte l and bit 2k of qh[l], value l + 32 the high nibble and bit 2k + 1.
 */
public final class Q5_KCodec implements TensorCodec {
    static final int QK_K = SuperBlockRows.QK_K;
    static final int BLOCK_BYTES = 176;
    private static final int QH_OFFSET = 16;
    private static final int QS_OFFSET = 48;

    @Override
    public TensorType type() {
        return GgmlType.Q5_K;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        SuperBlockRows.checkQuantize(GgmlType.Q5_K, n, rowLength);
        ScaleMinK4Block s = new ScaleMinK4Block(31, -0.5f, 15);
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
        SuperBlockRows.checkImportance(GgmlType.Q5_K, n, rowLength, importance);
        ScaleMinK4Block s = new ScaleMinK4Block(31, -0.5f, 15);
        byte[] block = new byte[BLOCK_BYTES];
        int perRow = rowLength / QK_K;
        for (int b = 0; b < n / QK_K; b++) {
            int off = srcOffset + b * QK_K;
            s.searchImportance(src, off, importance, (b % perRow) * QK_K, block, true);
            finish(src, off, s, block, dst, dstOffset + (long) b * BLOCK_BYTES);
        }
    }

    private static void finish(float[] x, int off, ScaleMinK4Block s, byte[] block, MemorySegment dst, long at) {
        s.requantize(x, off, block);
        byte[] L = s.L;
        for (int j = 0; j < 32; ++j) block[QH_OFFSET + j] = 0;
        int m1 = 1, m2 = 2;
        for (int n = 0; n < QK_K; n += 64) {
            int ql = QS_OFFSET + n / 2;
            for (int j = 0; j < 32; ++j) {
                int l1 = L[n + j];
                if (l1 > 15) {
                    l1 -= 16;
                    block[QH_OFFSET + j] |= (byte) m1;
                }
                int l2 = L[n + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    block[QH_OFFSET + j] |= (byte) m2;
                }
                block[ql + j] = (byte) (l1 | (l2 << 4));
            }
            m1 <<= 2;
            m2 <<= 2;
        }
        MemorySegment.copy(block, 0, dst, ValueLayout.JAVA_BYTE, at, BLOCK_BYTES);
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        SuperBlockRows.checkDequantize(GgmlType.Q5_K, firstElement, n, rowLength);
        long firstBlock = firstElement / QK_K;
        byte[] x = new byte[BLOCK_BYTES];
        for (int b = 0; b < n / QK_K; b++) {
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, (firstBlock + b) * BLOCK_BYTES, x, 0, BLOCK_BYTES);
            float d = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(x, 0));
            float min = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(x, 2));
            int y = dstOffset + b * QK_K;
            int ql = QS_OFFSET;
            int u1 = 1, u2 = 2;
            for (int is = 0; is < 8; is += 2) {
                float d1 = d * KQuantMinSearch.scaleK4(is, x, 4), m1 = min * KQuantMinSearch.minK4(is, x, 4);
                float d2 = d * KQuantMinSearch.scaleK4(is + 1, x, 4), m2 = min * KQuantMinSearch.minK4(is + 1, x, 4);
                for (int l = 0; l < 32; ++l) dst[y++] = d1 * ((x[ql + l] & 0xF) + ((x[QH_OFFSET + l] & u1) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; ++l) dst[y++] = d2 * (((x[ql + l] & 0xFF) >> 4) + ((x[QH_OFFSET + l] & u2) != 0 ? 16 : 0)) - m2;
                ql += 32;
                u1 <<= 2;
                u2 <<= 2;
            }
        }
    }
}
