package io.shardwise.core.quant;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Per-output-channel asymmetric integers: per row, scale = (max - min) / (2^bits - 1), zero point
 * z = round(-min / scale), q = clamp(round(x / scale) + z, 0, 2^bits - 1), x' = (q - z) * scale.
 */
public final class ChannelIntCodec implements TensorCodec {
    private final ChannelIntType type;

    public ChannelIntCodec(ChannelIntType type) {
        this.type = type;
    }

    @Override
    public TensorType type() {
        return type;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        int qmax = (1 << type.bits) - 1;
        long rowBytes = type.rowBytes(rowLength);
        for (int r = 0; r < n / rowLength; r++) {
            int base = srcOffset + r * rowLength;
            float min = 0, max = 0; // the range always holds 0 so that zeros (pruned weights) stay exact
            for (int j = 0; j < rowLength; j++) {
                min = Math.min(min, src[base + j]);
                max = Math.max(max, src[base + j]);
            }
            float scale = (max - min) / qmax;
            if (scale == 0) scale = 1;
            float zero = Math.round(-min / scale);
            long at = dstOffset + r * rowBytes;
            dst.set(Tensor.F32_LE, at, scale);
            dst.set(Tensor.F32_LE, at + 4, zero);
            for (int j = 0; j < rowLength; j++) {
                int q = (int) Math.max(0, Math.min(qmax, Math.round(src[base + j] / scale) + zero));
                if (type.bits == 8) {
                    dst.set(ValueLayout.JAVA_BYTE, at + 8 + j, (byte) q);
                } else {
                    long p = at + 8 + j / 2;
                    byte old = (j & 1) == 0 ? 0 : dst.get(ValueLayout.JAVA_BYTE, p);
                    dst.set(ValueLayout.JAVA_BYTE, p, (byte) ((j & 1) == 0 ? q : (old & 0x0F) | (q << 4)));
                }
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % rowLength != 0 || n % rowLength != 0) throw new IllegalArgumentException(type + " reads whole rows");
        long rowBytes = type.rowBytes(rowLength);
        long firstRow = firstElement / rowLength;
        for (int r = 0; r < n / rowLength; r++) {
            long at = (firstRow + r) * rowBytes;
            float scale = src.get(Tensor.F32_LE, at);
            float zero = src.get(Tensor.F32_LE, at + 4);
            for (int j = 0; j < rowLength; j++) {
                int q = type.bits == 8
                        ? src.get(ValueLayout.JAVA_BYTE, at + 8 + j) & 0xFF
                        : (src.get(ValueLayout.JAVA_BYTE, at + 8 + j / 2) >>> ((j & 1) * 4)) & 0x0F;
                dst[dstOffset + r * rowLength + j] = (q - zero) * scale;
            }
        }
    }
}
