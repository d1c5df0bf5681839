package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** ggml Q8_0: blocks of 32 as fp16 scale d = max|x|/127 and 32 int8 round(x/d) (quantize_row_q8_0_ref). */
public final class Q8_0Codec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 34;

    @Override
    public TensorType type() {
        return GgmlType.Q8_0;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        if (n % QK != 0) throw new IllegalArgumentException("Q8_0 needs a multiple of 32 values, got " + n);
        for (int b = 0; b < n / QK; b++) {
            int base = srcOffset + b * QK;
            float amax = 0;
            for (int j = 0; j < QK; j++) {
                float a = Math.abs(src[base + j]);
                amax = amax > a ? amax : a; // C's MAX macro, not Math.max: they differ once a NaN is seen
            }
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            long at = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(F16Codec.I16_LE, at, F16Codec.floatToHalf(d));
            for (int j = 0; j < QK; j++) {
                float q = src[base + j] * id;
                // x86's float-to-int gives INT_MIN (low byte 0) for NaN/inf/out-of-range, which a subnormal d reaches; Java saturates
                dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (Math.abs(q) < 2147483648f ? roundf(q) : Integer.MIN_VALUE));
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % QK != 0 || n % QK != 0) throw new IllegalArgumentException("Q8_0 reads whole blocks");
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(F16Codec.I16_LE, at));
            for (int j = 0; j < QK; j++) dst[dstOffset + b * QK + j] = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) * d;
        }
    }

    /** C's roundf: half away from zero (Math.round rounds half up). */
    static int roundf(float v) {
        double r = Math.floor(Math.abs((double) v) + 0.5);
        return (int) (v < 0 ? -r : r);
    }
}
