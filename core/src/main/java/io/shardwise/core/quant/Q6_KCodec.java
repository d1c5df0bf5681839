package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q6_K: super-blocks of 256 as 16 sub-blocks of 16 six-bit quants with a signed int8 scale each and one fp16
 * super-scale d; value = d * scale[k] * (q - 32). Layout: ql[128] (low nibbles), qh[64] (high 2 bits), int8 scales[16],
 * fp16 d. Bit-exact with ggml-quants.c quantize_row_q6_K_ref (plain), quantize_row_q6_K_impl (importance weights)
 * and dequantize_row_q6_K.
 */
public final class Q6_KCodec implements TensorCodec {
    static final int QK = 256;
    static final int BLOCK_BYTES = 210;
    private static final int QH = 128;
    private static final int SCALES = 192;
    private static final int D = 208;

    @Override
    public TensorType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, rowLength, null, dst, dstOffset);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        checkRows(GgmlType.Q6_K, n, rowLength, importance);
        byte[] L = new byte[QK];
        float[] scales = new float[QK / 16];
        byte[] block = new byte[BLOCK_BYTES];
        float[] xx = new float[16];
        float[] search = new float[KQuantScaleSearch.vectorScratchLength()];
        int blocksPerRow = rowLength / QK;
        for (int b = 0; b < n / QK; b++) {
            int qwOff = importance == null ? -1 : (b % blocksPerRow) * QK;
            quantizeBlock(src, srcOffset + b * QK, importance, qwOff, L, scales, xx, search, block);
            MemorySegment.copy(block, 0, dst, ValueLayout.JAVA_BYTE, dstOffset + (long) b * BLOCK_BYTES, BLOCK_BYTES);
        }
    }

    /** Refuses rows that are not whole 256-value super-blocks and importance vectors that are not one weight per column. */
    static void checkRows(GgmlType type, int n, int rowLength, float[] importance) {
        if (rowLength <= 0 || rowLength % QK != 0) {
            throw new IllegalArgumentException(type + " needs rows that are a multiple of " + QK + " values, got row length " + rowLength);
        }
        if (n % rowLength != 0) throw new IllegalArgumentException(type + " quantizes whole rows of " + rowLength + " values, got " + n + " values");
        if (importance != null && importance.length < rowLength) {
            throw new IllegalArgumentException(type + " importance matrix needs one weight per column (" + rowLength + "), got " + importance.length);
        }
    }

    /** One super-block; {@code qw} null is the _ref path, else the _impl path with {@code qw[qwOff..qwOff+256)}. */
    private static void quantizeBlock(float[] x, int xOff, float[] qw, int qwOff, byte[] L, float[] scales,
                                      float[] xx, float[] search, byte[] y) {
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < QK / 16; ib++) {
            float scale;
            if (qw != null) {
                scale = KQuantScaleSearch.makeQxQuantsVector(16, 32, x, xOff + 16 * ib, L, 16 * ib, qw, qwOff + 16 * ib, search);
            } else {
                // ggml's NULL weights with rmse type 1 are x^2
                for (int i = 0; i < 16; i++) xx[i] = x[xOff + 16 * ib + i] * x[xOff + 16 * ib + i];
                scale = KQuantScaleSearch.makeQxQuantsVector(16, 32, x, xOff + 16 * ib, L, 16 * ib, xx, 0, search);
            }
            scales[ib] = scale;
            float absScale = Math.abs(scale);
            if (absScale > maxAbsScale) {
                maxAbsScale = absScale;
                maxScale = scale;
            }
        }
        if (maxAbsScale < KQuantScaleSearch.GROUP_MAX_EPS) {
            java.util.Arrays.fill(y, (byte) 0);
            return;
        }
        float iscale = -128f / maxScale;
        short dHalf = F16Codec.floatToHalf(1f / iscale);
        y[D] = (byte) dHalf;
        y[D + 1] = (byte) (dHalf >> 8);
        for (int ib = 0; ib < QK / 16; ib++) {
            y[SCALES + ib] = (byte) Math.min(127, GgmlRound.nearestInt(iscale * scales[ib]));
        }
        float dAll = F16Codec.halfToFloat(dHalf);
        for (int j = 0; j < QK / 16; j++) {
            float d = dAll * y[SCALES + j];
            if (d == 0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = GgmlRound.nearestInt(x[xOff + 16 * j + ii] / d);
                L[16 * j + ii] = (byte) (Math.max(-32, Math.min(31, l)) + 32);
            }
        }
        for (int j = 0; j < QK; j += 128) {
            int ql = j / 2;
            int qh = QH + j / 4;
            for (int l = 0; l < 32; l++) {
                int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                y[ql + l] = (byte) ((q1 & 0xF) | ((q3 & 0xF) << 4));
                y[ql + l + 32] = (byte) ((q2 & 0xF) | ((q4 & 0xF) << 4));
                y[qh + l] = (byte) ((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % QK != 0 || n % QK != 0) throw new IllegalArgumentException("Q6_K reads whole 256-value blocks, got first " + firstElement + ", count " + n);
        long firstBlock = firstElement / QK;
        byte[] x = new byte[BLOCK_BYTES];
        for (int b = 0; b < n / QK; b++) {
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, (firstBlock + b) * BLOCK_BYTES, x, 0, BLOCK_BYTES);
            float d = F16Codec.halfToFloat((short) ((x[D] & 0xFF) | (x[D + 1] << 8)));
            int y = dstOffset + b * QK;
            for (int half = 0; half < 2; half++) {
                int ql = half * 64, qh = QH + half * 32, sc = SCALES + half * 8;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int lo0 = x[ql + l] & 0xFF, lo1 = x[ql + l + 32] & 0xFF, hi = x[qh + l] & 0xFF;
                    int q1 = ((lo0 & 0xF) | ((hi & 3) << 4)) - 32;
                    int q2 = ((lo1 & 0xF) | (((hi >> 2) & 3) << 4)) - 32;
                    int q3 = ((lo0 >> 4) | (((hi >> 4) & 3) << 4)) - 32;
                    int q4 = ((lo1 >> 4) | (((hi >> 6) & 3) << 4)) - 32;
                    dst[y + l] = d * x[sc + is] * q1;
                    dst[y + l + 32] = d * x[sc + is + 2] * q2;
                    dst[y + l + 64] = d * x[sc + is + 4] * q3;
                    dst[y + l + 96] = d * x[sc + is + 6] * q4;
                }
                y += 128;
            }
        }
    }
}
