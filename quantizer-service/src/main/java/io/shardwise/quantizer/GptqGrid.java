package io.shardwise.quantizer;

import io.shardwise.core.quant.F16Codec;
import io.shardwise.core.quant.GgmlRound;
import io.shardwise.core.quant.GroupIntCodec;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.GroupIntType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The grids GPTQ rounds to, one per output row and group of columns, with each output type's own scale formula and
 * rounding (ggml's quantize_row_*_ref for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; {@link GroupIntCodec} / ChannelIntCodec for
 * int), so that a group without error feedback gets exactly the RTN codec's bytes. Weights and integers are held
 * column-major (column c of all rows at {@code c * rows}), as GPTQ walks columns; parameters per group and row.
 */
final class GptqGrid {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private enum Kind { SIGNED_MAX, ABS_MAX, MIN_MAX, INT }

    final TensorType type;
    final int rows, cols, group;
    private final Kind kind;
    /** Q4_0/Q5_0: 8/16 (q - nmax); otherwise unused. */
    private final int nmax;
    private final int qmax, qmin;
    /** Per group g and row r at g * rows + r: d or scale; min or zero; 1/d (ggml kinds). */
    private final float[] a, b, inv;

    GptqGrid(TensorType type, int rows, int cols) {
        this.type = type;
        this.rows = rows;
        this.cols = cols;
        switch (type) {
            case GgmlType g when g == GgmlType.Q4_0 || g == GgmlType.Q5_0 -> {
                kind = Kind.SIGNED_MAX;
                nmax = g == GgmlType.Q4_0 ? 8 : 16;
                qmin = 0;
                qmax = 2 * nmax - 1;
                group = 32;
            }
            case GgmlType g when g == GgmlType.Q4_1 || g == GgmlType.Q5_1 -> {
                kind = Kind.MIN_MAX;
                nmax = 0;
                qmin = 0;
                qmax = g == GgmlType.Q4_1 ? 15 : 31;
                group = 32;
            }
            case GgmlType g when g == GgmlType.Q8_0 -> {
                kind = Kind.ABS_MAX;
                nmax = 0;
                qmin = -128;
                qmax = 127;
                group = 32;
            }
            case ChannelIntType c -> {
                kind = Kind.INT;
                nmax = 0;
                qmin = 0;
                qmax = (1 << c.bits) - 1;
                group = cols;
            }
            case GroupIntType g -> {
                kind = Kind.INT;
                nmax = 0;
                qmin = 0;
                qmax = g.maxQ();
                group = g.groupSize();
            }
            default -> throw new IllegalArgumentException("gptq: no GPTQ grid for type " + type.typeName()
                    + " (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, I8_ASYM_CH, I4_ASYM_CH, I<bits>_<SYM|ASYM>_G<group>)");
        }
        if (cols % group != 0) throw new IllegalArgumentException("gptq: " + type.typeName() + " groups of " + group + " do not divide rows of " + cols);
        int n = Math.multiplyExact(cols / group, rows);
        a = new float[n];
        b = new float[n];
        inv = new float[n];
    }

    /** Fits the grid of the group holding column {@code col0} for rows [r0, r1) to the current weights wt[(col0 + k) * rows + r]. */
    void fit(float[] wt, int col0, int r0, int r1) {
        int g = col0 / group;
        float[] sz = new float[2];
        for (int r = r0; r < r1; r++) {
            int p = g * rows + r, base = col0 * rows + r;
            switch (kind) {
                case SIGNED_MAX -> {
                    float amax = 0, max = 0;
                    for (int k = 0; k < group; k++) {
                        float v = wt[base + k * rows];
                        if (amax < Math.abs(v)) {
                            amax = Math.abs(v);
                            max = v;
                        }
                    }
                    a[p] = max / -nmax;
                }
                case ABS_MAX -> {
                    float amax = 0;
                    for (int k = 0; k < group; k++) {
                        float v = Math.abs(wt[base + k * rows]);
                        amax = amax > v ? amax : v;
                    }
                    a[p] = amax / 127f;
                }
                case MIN_MAX -> {
                    float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
                    for (int k = 0; k < group; k++) {
                        float v = wt[base + k * rows];
                        if (v < min) min = v;
                        if (v > max) max = v;
                    }
                    a[p] = (max - min) / qmax;
                    b[p] = min;
                }
                case INT -> {
                    GroupIntCodec.fit(intType(), wt, base, rows, group, sz);
                    a[p] = sz[0];
                    b[p] = sz[1];
                }
            }
            inv[p] = a[p] != 0 ? 1f / a[p] : 0f;
        }
    }

    private GroupIntType intType() {
        return type instanceof GroupIntType g ? g : new GroupIntType(((ChannelIntType) type).bits, cols, false);
    }

    /** The integer for weight x of row r in column col, by the type's own rounding. */
    int quantize(float x, int col, int r) {
        int p = col / group * rows + r;
        int q = switch (kind) {
            case SIGNED_MAX -> truncToInt(x * inv[p] + nmax + 0.5f);
            case ABS_MAX -> {
                float v = x * inv[p];
                yield Math.abs(v) < 2147483648f ? GgmlRound.roundf(v) : 0;
            }
            case MIN_MAX -> truncToInt((x - b[p]) * inv[p] + 0.5f);
            case INT -> Math.round(x / a[p]) + (int) b[p];
        };
        return Math.max(qmin, Math.min(qmax, q));
    }

    /** What integer q of row r in column col decodes to, with the scale as stored (fp16 for ggml). */
    float value(int q, int col, int r) {
        int p = col / group * rows + r;
        return switch (kind) {
            case SIGNED_MAX -> (q - nmax) * half(a[p]);
            case ABS_MAX -> q * half(a[p]);
            case MIN_MAX -> q * half(a[p]) + half(b[p]);
            case INT -> (q - b[p]) * a[p];
        };
    }

    private static float half(float f) {
        return F16Codec.halfToFloat(F16Codec.floatToHalf(f));
    }

    /** C's float-to-int cast as x86 runs it (INT_MIN for NaN / out of range), as the ggml codecs do. */
    private static int truncToInt(float f) {
        return f > -2147483649f && f < 2147483648f ? (int) f : Integer.MIN_VALUE;
    }

    /** Writes rows of the output type from the integers q (column-major, q[c * rows + r]) and the fitted grids. */
    void write(byte[] q, MemorySegment dst) {
        long rowBytes = type.byteSize(new long[]{cols});
        for (int r = 0; r < rows; r++) {
            long row = r * rowBytes;
            for (int g = 0; g < cols / group; g++) {
                int p = g * rows + r, q0 = g * group * rows + r;
                switch (type) {
                    case GroupIntType t -> GroupIntCodec.writeGroup(t, dst, row + (long) g * t.groupBytes(), a[p], b[p], q, q0, rows);
                    case ChannelIntType c -> {
                        dst.set(Tensor.F32_LE, row, a[p]);
                        dst.set(Tensor.F32_LE, row + 4, b[p]);
                        for (int j = 0; j < cols; j++) {
                            int v = q[q0 + j * rows] & 0xFF;
                            if (c.bits == 8) dst.set(ValueLayout.JAVA_BYTE, row + 8 + j, (byte) v);
                            else if ((j & 1) == 0) dst.set(ValueLayout.JAVA_BYTE, row + 8 + j / 2, (byte) v);
                            else dst.set(ValueLayout.JAVA_BYTE, row + 8 + j / 2, (byte) (dst.get(ValueLayout.JAVA_BYTE, row + 8 + j / 2) & 0x0F | v << 4));
                        }
                    }
                    case GgmlType t -> writeGgml(t, q, q0, dst, row + (long) g * t.blockBytes, p);
                    default -> throw new IllegalStateException(type.typeName());
                }
            }
        }
    }

    /** One ggml block (ggml-common.h block_q4_0 .. block_q8_0) from 32 integers q[q0 + k * rows]. */
    private void writeGgml(GgmlType t, byte[] q, int q0, MemorySegment dst, long at, int p) {
        dst.set(I16, at, F16Codec.floatToHalf(a[p]));
        if (t == GgmlType.Q8_0) {
            for (int k = 0; k < 32; k++) dst.set(ValueLayout.JAVA_BYTE, at + 2 + k, q[q0 + k * rows]);
            return;
        }
        long nib = at + 2;
        if (t == GgmlType.Q4_1 || t == GgmlType.Q5_1) dst.set(I16, nib, F16Codec.floatToHalf(b[p]));
        if (t == GgmlType.Q4_1 || t == GgmlType.Q5_1) nib += 2;
        if (t == GgmlType.Q5_0 || t == GgmlType.Q5_1) {
            int qh = 0;
            for (int k = 0; k < 32; k++) qh |= ((q[q0 + k * rows] >> 4) & 1) << k;
            dst.set(I32, nib, qh);
            nib += 4;
        }
        for (int k = 0; k < 16; k++) {
            int lo = q[q0 + k * rows] & 0x0F, hi = q[q0 + (k + 16) * rows] & 0x0F;
            dst.set(ValueLayout.JAVA_BYTE, nib + k, (byte) (lo | hi << 4));
        }
    }
}
