package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;

/** Dense little-endian float32. */
public final class F32Codec implements TensorCodec {
    @Override
    public TensorType type() {
        return GgmlType.F32;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        MemorySegment.copy(src, srcOffset, dst, Tensor.F32_LE, dstOffset, n);
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        MemorySegment.copy(src, Tensor.F32_LE, firstElement * 4, dst, dstOffset, n);
    }
}
