package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;

/** bfloat16 (the top 16 bits of a float32), rounded to nearest even as ggml_compute_fp32_to_bf16 does. */
public final class BF16Codec implements TensorCodec {

    @Override
    public TensorType type() {
        return GgmlType.BF16;
    }

    /** ggml's rounding: NaN keeps its top bits and is forced quiet; everything else rounds half to even. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 64);
        return (short) ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16);
    }

    public static float bf16ToFloat(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        for (int i = 0; i < n; i++) dst.set(F16Codec.I16_LE, dstOffset + 2L * i, floatToBf16(src[srcOffset + i]));
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = bf16ToFloat(src.get(F16Codec.I16_LE, (firstElement + i) * 2));
    }
}
