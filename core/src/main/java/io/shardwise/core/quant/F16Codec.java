package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** IEEE half precision; rounding to nearest even like ggml's F16C path. Decoded in Java (DJL's half types crash the JVM). */
public final class F16Codec implements TensorCodec {
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Override
    public TensorType type() {
        return GgmlType.F16;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        for (int i = 0; i < n; i++) dst.set(I16_LE, dstOffset + 2L * i, Float.floatToFloat16(src[srcOffset + i]));
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        for (int i = 0; i < n; i++) dst[dstOffset + i] = Float.float16ToFloat(src.get(I16_LE, (firstElement + i) * 2));
    }
}
