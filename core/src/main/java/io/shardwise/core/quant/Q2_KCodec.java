package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q2_K: per 256 values sixteen bytes of 4-bit scale (low nibble) and 4-bit min (high nibble), 64 bytes of
 * 2-bit quants, fp16 d and dmin; value = d * sc * q - dmin * m with q in 0..3 (quantize_row_q2_K_ref,
 * quantize_row_q2_K_impl with an importance matrix, dequantize_row_q2_K). Within each 128 values, value l + 32k is
 * bits 2k..2k+1 of byte l.
 */
public final class Q2_KCodec implements TensorCodec {
    static final int QK_K = SuperBlockRows.QK_K;
    static final int BLOCK_BYTES = 84;
    private static final int QS_OFFSET = 16;
    private static final int D_OFFSET = 80;
    private static final int DMIN_OFFSET = 82;

    @Override
    public TensorType type() {
        return GgmlType.Q2_K;
    }

    /** One call's scratch, reused block after block. */
    private static final class Scratch {
        final byte[] block = new byte[BLOCK_BYTES];
        final byte[] L = new byte[QK_K];
        final float[] weights = new float[QK_K];
        final KQuantMinLanes lanes = new KQuantMinLanes(16);
        final float[] scales = new float[16];
        final float[] mins = new float[16];
        final float[] sw = new float[16];
        final byte[] ls = new byte[16];
        final byte[] lm = new byte[16];
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        SuperBlockRows.checkQuantize(GgmlType.Q2_K, n, rowLength);
        Scratch s = new Scratch();
        for (int b = 0; b < n / QK_K; b++) {
            int off = srcOffset + b * QK_K;
            searchReference(src, off, s);
            finish(src, off, s, dst, dstOffset + (long) b * BLOCK_BYTES);
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance == null) {
            quantize(src, srcOffset, n, rowLength, dst, dstOffset);
            return;
        }
        SuperBlockRows.checkImportance(GgmlType.Q2_K, n, rowLength, importance);
        Scratch s = new Scratch();
        int perRow = rowLength / QK_K;
        for (int b = 0; b < n / QK_K; b++) {
            int off = srcOffset + b * QK_K;
            searchImportance(src, off, importance, (b % perRow) * QK_K, s);
            finish(src, off, s, dst, dstOffset + (long) b * BLOCK_BYTES);
        }
    }

    /** quantize_row_q2_K_ref: weights |x|, absolute-error search, 4-bit scales and mins relative to the largest. */
    private static void searchReference(float[] x, int off, Scratch s) {
        for (int l = 0; l < QK_K; ++l) s.weights[l] = Math.abs(x[off + l]);
        s.lanes.search(16, 3, x, off, s.weights, 0, s.L, 0, s.scales, s.mins, -0.5f, 0.1f, 15, true, false);
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < 16; ++j) {
            if (s.scales[j] > maxScale) maxScale = s.scales[j];
            if (s.mins[j] > maxMin) maxMin = s.mins[j];
        }
        byte[] block = s.block;
        if (maxScale > 0) {
            float iscale = 15.f / maxScale;
            for (int j = 0; j < 16; ++j) block[j] = (byte) GgmlRound.nearestInt(iscale * s.scales[j]);
            ScaleMinK4Block.putHalf(block, D_OFFSET, F16Codec.floatToHalf(maxScale / 15.f));
        } else {
            for (int j = 0; j < 16; ++j) block[j] = 0;
            ScaleMinK4Block.putHalf(block, D_OFFSET, F16Codec.floatToHalf(0.f));
        }
        if (maxMin > 0) {
            float iscale = 15.f / maxMin;
            for (int j = 0; j < 16; ++j) block[j] |= (byte) (GgmlRound.nearestInt(iscale * s.mins[j]) << 4);
            ScaleMinK4Block.putHalf(block, DMIN_OFFSET, F16Codec.floatToHalf(maxMin / 15.f));
        } else {
            ScaleMinK4Block.putHalf(block, DMIN_OFFSET, F16Codec.floatToHalf(0.f));
        }
    }

    /** quantize_row_q2_K_impl: weights {@code qw * sqrt(sigma2 + x^2)}, scales and mins quantized by make_qp_quants. */
    private static void searchImportance(float[] x, int off, float[] qw, int qwOff, Scratch s) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j) sumx2 += x[off + j] * x[off + j];
        float sigma2 = sumx2 / QK_K;
        for (int j = 0; j < 16; ++j) {
            int o = off + 16 * j;
            float sw = 0;
            for (int l = 0; l < 16; ++l) s.weights[16 * j + l] = qw[qwOff + 16 * j + l] * (float) Math.sqrt(sigma2 + x[o + l] * x[o + l]);
            for (int l = 0; l < 16; ++l) sw += s.weights[16 * j + l];
            s.sw[j] = sw;
        }
        s.lanes.search(16, 3, x, off, s.weights, 0, s.L, 0, s.scales, s.mins, -0.9f, 0.05f, 36, false, true);
        float dm = KQuantMinSearch.makeQpQuants(16, 15, s.scales, s.ls, s.sw);
        float mm = KQuantMinSearch.makeQpQuants(16, 15, s.mins, s.lm, s.sw);
        byte[] block = s.block;
        ScaleMinK4Block.putHalf(block, D_OFFSET, F16Codec.floatToHalf(dm));
        ScaleMinK4Block.putHalf(block, DMIN_OFFSET, F16Codec.floatToHalf(mm));
        for (int j = 0; j < 16; ++j) block[j] = (byte) (s.ls[j] | (s.lm[j] << 4));
    }

    /** Requantizes with the stored fp16 scales (a sub-block whose scale is 0 keeps its search quants) and packs. */
    private static void finish(float[] x, int off, Scratch s, MemorySegment dst, long at) {
        byte[] block = s.block;
        byte[] L = s.L;
        float d0 = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(block, D_OFFSET));
        float dmin0 = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(block, DMIN_OFFSET));
        for (int j = 0; j < 16; ++j) {
            int sc = block[j] & 0xFF;
            float d = d0 * (sc & 0xF);
            if (d == 0) continue;
            float dm = dmin0 * (sc >> 4);
            KQuantMinLanes.requantize(x, off + 16 * j, 16, d, dm, 3, L, 16 * j);
        }
        for (int j = 0; j < QK_K; j += 128) {
            int q = QS_OFFSET + j / 4;
            for (int l = 0; l < 32; ++l) {
                block[q + l] = (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
            }
        }
        MemorySegment.copy(block, 0, dst, ValueLayout.JAVA_BYTE, at, BLOCK_BYTES);
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        SuperBlockRows.checkDequantize(GgmlType.Q2_K, firstElement, n, rowLength);
        long firstBlock = firstElement / QK_K;
        byte[] x = new byte[BLOCK_BYTES];
        for (int b = 0; b < n / QK_K; b++) {
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, (firstBlock + b) * BLOCK_BYTES, x, 0, BLOCK_BYTES);
            float d = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(x, D_OFFSET));
            float min = F16Codec.halfToFloat(ScaleMinK4Block.getHalf(x, DMIN_OFFSET));
            int y = dstOffset + b * QK_K;
            int is = 0;
            for (int n128 = 0; n128 < QK_K; n128 += 128) {
                int q = QS_OFFSET + n128 / 4;
                for (int shift = 0; shift < 8; shift += 2) {
                    for (int half = 0; half < 32; half += 16) {
                        int sc = x[is++] & 0xFF;
                        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                        for (int l = 0; l < 16; ++l) dst[y++] = dl * (((x[q + half + l] & 0xFF) >> shift) & 3) - ml;
                    }
                }
            }
        }
    }
}
