package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml Q8_K, the activation type of the K-quant dot products: per 256 values a float32 d = max / -127 (max = the
 * signed value of largest magnitude), 256 int8 nearest_int(x * -127 / max) and 16 int16 sums of 16 quants each
 * (quantize_row_q8_K_ref, dequantize_row_q8_K). All-zero blocks get d = 0, zero quants and (unlike ggml, which leaves
 * them unwritten) zero sums.
 */
public final class Q8_KCodec implements TensorCodec {
    static final int QK_K = SuperBlockRows.QK_K;
    static final int BLOCK_BYTES = 292;
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Override
    public TensorType type() {
        return GgmlType.Q8_K;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        SuperBlockRows.checkQuantize(GgmlType.Q8_K, n, rowLength);
        byte[] qs = new byte[QK_K];
        short[] bsums = new short[16];
        for (int b = 0; b < n / QK_K; b++) {
            float d = quantizeBlock(src, srcOffset + b * QK_K, qs, 0, bsums, 0);
            long at = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(F32_LE, at, d);
            MemorySegment.copy(qs, 0, dst, ValueLayout.JAVA_BYTE, at + 4, QK_K);
            MemorySegment.copy(bsums, 0, dst, I16_LE, at + 4 + QK_K, 16);
        }
    }

    /**
     * Quantizes the 256 values at {@code x[xOff]} to {@code qs[qsOff..qsOff+256)} and their 16 sums of 16 to
     * {@code bsums[bsumsOff..bsumsOff+16)}; returns the block's scale d (value = d * q). For callers that keep
     * activations on the heap (dot products against K-quant weights).
     */
    public static float quantizeBlock(float[] x, int xOff, byte[] qs, int qsOff, short[] bsums, int bsumsOff) {
        float max = 0;
        float amax = 0;
        for (int j = 0; j < QK_K; ++j) {
            float ax = Math.abs(x[xOff + j]);
            if (ax > amax) {
                amax = ax;
                max = x[xOff + j];
            }
        }
        if (amax == 0) { // also when every value is NaN, as ggml's !amax
            java.util.Arrays.fill(qs, qsOff, qsOff + QK_K, (byte) 0);
            java.util.Arrays.fill(bsums, bsumsOff, bsumsOff + 16, (short) 0);
            return 0f;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; ++j) qs[qsOff + j] = (byte) Math.min(127, GgmlRound.nearestInt(iscale * x[xOff + j]));
        for (int j = 0; j < 16; ++j) {
            int sum = 0;
            for (int i = 0; i < 16; ++i) sum += qs[qsOff + 16 * j + i];
            bsums[bsumsOff + j] = (short) sum;
        }
        return 1 / iscale;
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        SuperBlockRows.checkDequantize(GgmlType.Q8_K, firstElement, n, rowLength);
        long firstBlock = firstElement / QK_K;
        for (int b = 0; b < n / QK_K; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = src.get(F32_LE, at);
            int o = dstOffset + b * QK_K;
            for (int j = 0; j < QK_K; j++) dst[o + j] = d * src.get(ValueLayout.JAVA_BYTE, at + 4 + j);
        }
    }
}
