package io.shardwise.pruner;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * SparseGPT's joint quantization grid: per output row, asymmetric min-max over the row's original weights with 0
 * in range (scale = (max - min) / (2^bits - 1), zero point round(-min / scale)), the grid of
 * {@link ChannelIntType}, so 0 (a pruned weight) is exact and the codes are stored as they are.
 */
public record ChannelGrid(ChannelIntType type, float[] scale, float[] zero) {

    /** Fits each row of {@code w} (rows x cols, row-major), as the codec does. */
    static ChannelGrid fit(ChannelIntType type, float[] w, int rows, int cols) {
        int qmax = (1 << type.bits) - 1;
        float[] scale = new float[rows], zero = new float[rows];
        for (int r = 0; r < rows; r++) {
            float min = 0, max = 0;
            for (int j = 0; j < cols; j++) {
                min = Math.min(min, w[r * cols + j]);
                max = Math.max(max, w[r * cols + j]);
            }
            float s = (max - min) / qmax;
            scale[r] = s == 0 ? 1 : s;
            zero[r] = Math.round(-min / scale[r]);
        }
        return new ChannelGrid(type, scale, zero);
    }

    int quantize(float x, int row) {
        return (int) Math.max(0, Math.min((1 << type.bits) - 1, Math.round(x / scale[row]) + zero[row]));
    }

    float value(int q, int row) {
        return (q - zero[row]) * scale[row];
    }

    /** The tensor of {@code codes} (rows x cols, row-major) in the type's layout: scale, zero point, the row's integers. */
    Tensor tensor(String name, int[] codes, int rows, int cols, Arena arena) {
        long rowBytes = type.rowBytes(cols);
        MemorySegment out = arena.allocate(rowBytes * rows, 64);
        for (int r = 0; r < rows; r++) {
            long at = r * rowBytes;
            out.set(Tensor.F32_LE, at, scale[r]);
            out.set(Tensor.F32_LE, at + 4, zero[r]);
            for (int j = 0; j < cols; j++) {
                int q = codes[r * cols + j];
                if (type.bits == 8) {
                    out.set(ValueLayout.JAVA_BYTE, at + 8 + j, (byte) q);
                } else {
                    long p = at + 8 + j / 2;
                    byte old = (j & 1) == 0 ? 0 : out.get(ValueLayout.JAVA_BYTE, p);
                    out.set(ValueLayout.JAVA_BYTE, p, (byte) ((j & 1) == 0 ? q : (old & 0x0F) | (q << 4)));
                }
            }
        }
        return new Tensor(name, type, new long[]{cols, rows}, out);
    }
}
