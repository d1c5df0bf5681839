package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * IEEE half precision, bit-exact with ggml's ggml_compute_fp32_to_fp16 / fp16_to_fp32: round to nearest
 * even, every NaN encodes as 0x7e00 with its sign, and NaNs decode quiet. Decoded in Java (DJL's half types crash the JVM).
 */
public final class F16Codec implements TensorCodec {
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Override
    public TensorType type() {
        return GgmlType.F16;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        for (int i = 0; i < n; i++) dst.set(I16_LE, dstOffset + 2L * i, floatToHalf(src[srcOffset + i]));
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = halfToFloat(src.get(I16_LE, (firstElement + i) * 2));
    }

    /** ggml's fp32 to fp16: Java's conversion keeps NaN payload bits, ggml writes the canonical quiet NaN. */
    public static short floatToHalf(float f) {
        if (Float.isNaN(f)) return (short) (((Float.floatToRawIntBits(f) >>> 16) & 0x8000) | 0x7e00);
        return Float.floatToFloat16(f);
    }

    /** ggml's fp16 to fp32: exact, and a signalling NaN comes out quiet (its x86 multiply sets bit 22). */
    public static float halfToFloat(short h) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0) {
            return Float.intBitsToFloat(((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x03ff) << 13));
        }
        return Float.float16ToFloat(h);
    }
}
