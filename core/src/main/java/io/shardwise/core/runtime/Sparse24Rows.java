package io.shardwise.core.runtime;

import io.shardwise.core.tensor.GgmlType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A float weight (F32, F16, BF16) that is 2:4 sparse, packed at load (NVIDIA's 2:4 structured sparsity, Mishra et
 * al. 2021, "Accelerating Sparse Deep Neural Networks", Sec. 3: two values and two 2-bit positions per group of 4).
 * Every aligned group of 4 columns of a row has at most 2 non-zeros; each group keeps 2 values in the stored type and
 * one byte {@code i0 | i1 << 2} (i0 < i1, their columns in the group). A row is cut in chunks of {@value #GROUPS}
 * groups ({@value #CHUNK} columns): the chunk's 16 first values, its 16 second values, its 16 position bytes; a vector
 * kernel of up to 16 lanes so finds consecutive groups in its lanes. A row ends on a whole chunk (zero-padded).
 * Half the multiply-adds of the dense row and 56% (F32) or 62.5% (F16, BF16) of its bytes. An F16 matrix holding an
 * infinity or NaN stays dense.
 */
public record Sparse24Rows(String name, GgmlType type, MemorySegment data, int in, int out) {
    static final int GROUPS = 16, CHUNK = 4 * GROUPS;

    public Sparse24Rows {
        if (type != GgmlType.F32 && type != GgmlType.F16 && type != GgmlType.BF16) throw new IllegalArgumentException("tensor " + name + ": 2:4 packing takes F32, F16 or BF16, not " + type);
        if (in % 4 != 0) throw new IllegalArgumentException("tensor " + name + ": 2:4 packing needs rows of a multiple of 4 columns, got " + in);
        if (data.byteSize() != rowBytes(type, in) * out) throw new IllegalArgumentException("tensor " + name + ": packed 2:4 data of " + data.byteSize() + " bytes, expected " + rowBytes(type, in) * out);
    }

    static int elementBytes(GgmlType type) {
        return type == GgmlType.F32 ? 4 : 2;
    }

    static long chunkBytes(GgmlType type) {
        return 2L * GROUPS * elementBytes(type) + GROUPS;
    }

    static long rowBytes(GgmlType type, int in) {
        return (long) chunks(in) * chunkBytes(type);
    }

    static int chunks(int in) {
        return (in + CHUNK - 1) / CHUNK;
    }

    long rowBytes() {
        return rowBytes(type, in);
    }

    /** Bytes of the packed matrix (what a matvec reads), against {@code type.byteSize} of the dense one. */
    public long byteSize() {
        return data.byteSize();
    }

    /** For each mask of a group's non-zero columns (at most 2 set), the position byte i0 | i1 << 2 of the columns kept: its non-zeros, topped up with zero columns next to them. */
    private static final byte[] CODE = new byte[16];

    static {
        for (int mask = 0; mask < 16; mask++) {
            int[] kept = new int[2];
            int k = 0;
            for (int j = 0; j < 4 && k < 2; j++) if ((mask >> j & 1) != 0) kept[k++] = j;
            if (Integer.bitCount(mask) > 2) continue;
            if (k == 0) {
                kept[1] = 1;
            } else if (k == 1) {
                if (kept[0] == 3) kept[0] = 2;
                kept[1] = kept[0] + 1;
            }
            CODE[mask] = (byte) (kept[0] | kept[1] << 2);
        }
    }

    private static boolean packable(Linear w) {
        return (w.type() == GgmlType.F32 || w.type() == GgmlType.F16 || w.type() == GgmlType.BF16) && w.in() % 4 == 0;
    }

    /** True when the weight has a float type, rows of a multiple of 4, and at most 2 non-zeros (any sign of zero is zero) in every aligned group of 4. */
    public static boolean isSparse(Linear w) {
        if (!packable(w)) return false;
        int es = elementBytes((GgmlType) w.type());
        long groups = (long) w.in() / 4 * w.out();
        for (long g = 0; g < groups; g++) if (Integer.bitCount(nonZeros(w.data(), g * 4 * es, es)) > 2) return false;
        return true;
    }

    /** The packed form of {@code w} (off-heap, freed when unreachable), or null when w is not 2:4 sparse. */
    public static Sparse24Rows pack(Linear w) {
        if (!packable(w)) return null;
        GgmlType type = (GgmlType) w.type();
        int es = elementBytes(type), in = w.in();
        MemorySegment src = w.data();
        // a dense matrix fails within its first groups: detection costs nothing on dense models
        for (int g = 0; g < in / 4; g++) if (Integer.bitCount(nonZeros(src, 4L * g * es, es)) > 2) return null;
        long rowBytes = rowBytes(type, in), chunkBytes = chunkBytes(type), codes = 2L * GROUPS * es;
        MemorySegment dst = Arena.ofAuto().allocate(rowBytes * w.out(), 64);
        for (int r = 0; r < w.out(); r++) {
            long rowAt = (long) r * in * es, packedAt = r * rowBytes;
            for (int g = 0; g < in / 4; g++) {
                long at = rowAt + 4L * g * es;
                int mask = nonZeros(src, at, es);
                if (Integer.bitCount(mask) > 2) return null;
                if (type == GgmlType.F16 && infiniteOrNaN(src.get(WeightRows.I64, at))) return null; // the vector kernel converts finite halfs only
                int code = CODE[mask], i0 = code & 3, i1 = code >> 2, j = g % GROUPS;
                long o = packedAt + (g / GROUPS) * chunkBytes;
                if (es == 4) {
                    dst.set(WeightRows.I32, o + 4L * j, src.get(WeightRows.I32, at + 4L * i0));
                    dst.set(WeightRows.I32, o + 4L * (GROUPS + j), src.get(WeightRows.I32, at + 4L * i1));
                } else {
                    long v = src.get(WeightRows.I64, at);
                    dst.set(WeightRows.I16, o + 2L * j, (short) (v >>> 16 * i0));
                    dst.set(WeightRows.I16, o + 2L * (GROUPS + j), (short) (v >>> 16 * i1));
                }
                dst.set(WeightRows.I8, o + codes + j, (byte) code);
            }
        }
        return new Sparse24Rows(w.name(), type, dst, in, w.out());
    }

    /** True when one of the 4 halfs of v has exponent 31 (infinity or NaN). */
    private static boolean infiniteOrNaN(long v) {
        for (int j = 0; j < 4; j++) if ((v >>> 16 * j & 0x7c00) == 0x7c00) return true;
        return false;
    }

    /** Bit j set when column j of the group at byte {@code at} is non-zero (the group read as one or two longs). */
    private static int nonZeros(MemorySegment d, long at, int es) {
        if (es == 2) {
            long v = d.get(WeightRows.I64, at);
            return ((v & 0x7fffL) != 0 ? 1 : 0) | ((v & 0x7fff0000L) != 0 ? 2 : 0) | ((v & 0x7fff00000000L) != 0 ? 4 : 0) | ((v & 0x7fff000000000000L) != 0 ? 8 : 0);
        }
        long a = d.get(WeightRows.I64, at), b = d.get(WeightRows.I64, at + 8);
        return ((a & 0x7fffffffL) != 0 ? 1 : 0) | ((a & 0x7fffffff00000000L) != 0 ? 2 : 0) | ((b & 0x7fffffffL) != 0 ? 4 : 0) | ((b & 0x7fffffff00000000L) != 0 ? 8 : 0);
    }

    /** The activation's floats in chunk order (see {@link Activation#sparseOrder}), made once per prepared activation. */
    static float[] sparseOrder(Activation a) {
        if (a.sparseReady) return a.sparseOrder;
        int n = a.n, len = chunks(n) * CHUNK;
        if (a.sparseOrder.length < len) a.sparseOrder = new float[len];
        float[] out = a.sparseOrder, f = a.f;
        for (int c = 0; c < len; c += CHUNK) {
            for (int j = 0; j < GROUPS; j++) {
                for (int p = 0; p < 4; p++) {
                    int i = c + 4 * j + p;
                    out[c + GROUPS * p + j] = i < n ? f[i] : 0f;
                }
            }
        }
        a.sparseReady = true;
        return out;
    }

    /** Checks an activation and a row range for this matrix. */
    void check(Activation a, int r0, int r1) {
        if (a.kind != GgmlType.F32) throw new IllegalArgumentException("activation prepared as " + a.kind + " but packed 2:4 " + type + " rows take F32");
        if (a.n != in) throw new IllegalArgumentException("activation has " + a.n + " values, rows of " + name + " have " + in);
        if (r0 < 0 || r1 < r0 || r1 > out) throw new IndexOutOfBoundsException("rows [" + r0 + ", " + r1 + ") of " + out + " in " + name);
    }
}
