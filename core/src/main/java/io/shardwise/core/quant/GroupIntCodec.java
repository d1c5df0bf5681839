package io.shardwise.core.quant;

import io.shardwise.core.tensor.GroupIntType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Per-group integers ({@link GroupIntType}) with GPTQ's grids (Frantar et al., quant.py find_params): symmetric
 * scale = 2 max|x| / (2^b - 1), zero = 2^(b-1); asymmetric over [min(x, 0), max(x, 0)]: scale = (max - min) / (2^b - 1),
 * zero = round(-min / scale); q = clamp(round(x / scale) + zero, 0, 2^b - 1), x' = (q - zero) * scale.
 */
public final class GroupIntCodec implements TensorCodec {
    private final GroupIntType type;

    public GroupIntCodec(GroupIntType type) {
        this.type = type;
    }

    @Override
    public TensorType type() {
        return type;
    }

    /** The grid of one group: {scale, zero} of {@code n} values {@code x[off + k*stride]}. */
    public static void fit(GroupIntType t, float[] x, int off, int stride, int n, float[] scaleZero) {
        float min = 0, max = 0; // the range holds 0 so that zeros stay exact, as ChannelIntCodec
        for (int k = 0; k < n; k++) {
            float v = x[off + k * stride];
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        int qmax = t.maxQ();
        if (t.symmetric()) {
            float amax = Math.max(-min, max);
            float scale = 2 * amax / qmax;
            scaleZero[0] = scale == 0 ? 1 : scale;
            scaleZero[1] = (qmax + 1) / 2;
        } else {
            float scale = (max - min) / qmax;
            if (scale == 0) scale = 1;
            scaleZero[0] = scale;
            scaleZero[1] = Math.round(-min / scale);
        }
    }

    /** q = clamp(round(x / scale) + zero, 0, qmax). */
    public static int quantize(float x, float scale, float zero, int qmax) {
        return (int) Math.max(0, Math.min(qmax, Math.round(x / scale) + zero));
    }

    /** Writes one group's header and {@code q[qOff + k*qStride]}, k < groupSize, at {@code at}. */
    public static void writeGroup(GroupIntType t, MemorySegment dst, long at, float scale, float zero, byte[] q, int qOff, int qStride) {
        dst.set(Tensor.F32_LE, at, scale);
        if (!t.symmetric()) dst.set(Tensor.F32_LE, at + 4, zero);
        long p = at + (t.symmetric() ? 4 : 8);
        int bits = t.bits();
        int acc = 0, have = 0;
        for (int k = 0; k < t.groupSize(); k++) {
            acc |= (q[qOff + k * qStride] & 0xFF) << have;
            have += bits;
            while (have >= 8) {
                dst.set(ValueLayout.JAVA_BYTE, p++, (byte) acc);
                acc >>>= 8;
                have -= 8;
            }
        }
        if (have > 0) dst.set(ValueLayout.JAVA_BYTE, p, (byte) acc);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        long rowBytes = type.rowBytes(rowLength);
        if (n % rowLength != 0) throw new IllegalArgumentException(type + " quantizes whole rows of " + rowLength + " values, got " + n);
        int g = type.groupSize(), qmax = type.maxQ();
        float[] sz = new float[2];
        byte[] q = new byte[g];
        for (int r = 0; r < n / rowLength; r++) {
            for (int gi = 0; gi < rowLength / g; gi++) {
                int base = srcOffset + r * rowLength + gi * g;
                fit(type, src, base, 1, g, sz);
                for (int k = 0; k < g; k++) q[k] = (byte) quantize(src[base + k], sz[0], sz[1], qmax);
                writeGroup(type, dst, dstOffset + r * rowBytes + (long) gi * type.groupBytes(), sz[0], sz[1], q, 0, 1);
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        int g = type.groupSize(), bits = type.bits(), mask = type.maxQ();
        if (firstElement % g != 0 || n % g != 0) throw new IllegalArgumentException(type + " reads whole groups of " + g + ", got first element " + firstElement + " and count " + n);
        long rowBytes = type.rowBytes(rowLength);
        for (int i = 0; i < n; i += g) {
            long e = firstElement + i;
            long at = e / rowLength * rowBytes + e % rowLength / g * type.groupBytes();
            float scale = src.get(Tensor.F32_LE, at);
            float zero = type.symmetric() ? (mask + 1) / 2 : src.get(Tensor.F32_LE, at + 4);
            long p = at + (type.symmetric() ? 4 : 8);
            int acc = 0, have = 0;
            for (int k = 0; k < g; k++) {
                while (have < bits) {
                    acc |= (src.get(ValueLayout.JAVA_BYTE, p++) & 0xFF) << have;
                    have += 8;
                }
                dst[dstOffset + i + k] = ((acc & mask) - zero) * scale;
                acc >>>= bits;
                have -= bits;
            }
        }
    }
}
