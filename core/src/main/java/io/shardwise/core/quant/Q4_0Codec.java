package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q4_0: blocks of 32 as fp16 scale d = max/-8 (max = the signed value of largest magnitude)
 * and 16 bytes of nibbles q = min(15, (int)(x/d + 8.5)); value j in the low nibble of byte j,
 * value j+16 in its high nibble (quantize_row_q4_0_ref).
 */
public final class Q4_0Codec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;

    @Override
    public TensorType type() {
        return GgmlType.Q4_0;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        if (n % QK != 0) throw new IllegalArgumentException("Q4_0 needs a multiple of 32 values, got " + n);
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
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            long at = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(F16Codec.I16_LE, at, F16Codec.floatToHalf(d));
            for (int j = 0; j < QK / 2; j++) {
                float x0 = src[base + j] * id;
                float x1 = src[base + QK / 2 + j] * id;
                int q0 = Math.min(15, (byte) (int) (x0 + 8.5f));
                int q1 = Math.min(15, (byte) (int) (x1 + 8.5f));
                dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (q0 | (q1 << 4)));
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % QK != 0 || n % QK != 0) throw new IllegalArgumentException("Q4_0 reads whole blocks");
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(F16Codec.I16_LE, at));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) & 0xFF;
                dst[o + j] = ((q & 0x0F) - 8) * d;
                dst[o + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }
}
