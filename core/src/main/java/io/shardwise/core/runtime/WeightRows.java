package io.shardwise.core.runtime;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** What both row-kernel twins share: which activation type a weight type takes, row sizes, argument checks, the slow path. */
final class WeightRows {
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Per thread, since one prepared activation is read by several threads at once. */
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    private WeightRows() {
    }

    /** ggml's vec_dot_type for the natively dotted ggml types; a RowInt8Type itself (per-token int8); F32 (floats) for every other type. */
    static TensorType activationType(TensorType t) {
        if (t instanceof RowInt8Type) return t;
        if (t instanceof GgmlType g) {
            return switch (g) {
                case Q8_0, Q4_0 -> GgmlType.Q8_0;
                case Q4_K, Q6_K -> GgmlType.Q8_K;
                default -> GgmlType.F32;
            };
        }
        return GgmlType.F32;
    }

    /** True for the types whose rows are dotted without dequantizing them first. */
    static boolean isNative(TensorType t) {
        return t == GgmlType.F32 || t == GgmlType.F16 || t == GgmlType.BF16 || activationType(t) != GgmlType.F32;
    }

    static void prepare(TensorType t, float[] x, int off, int n, Activation into) {
        if (off < 0 || n < 0 || off + n > x.length) throw new IndexOutOfBoundsException("activation [" + off + ", " + (off + n) + ") of " + x.length);
        TensorType at = activationType(t);
        if (at instanceof RowInt8Type r) into.prepareRowInt8(r, x, off, n);
        else if (at == GgmlType.Q8_0) into.quantizeQ8_0(x, off, n);
        else if (at == GgmlType.Q8_K) into.quantizeQ8_K(x, off, n);
        else into.setFloats(x, off, n);
    }

    /** Bytes of one row of n elements; checks the activation was prepared for this type and length and that the rows exist. */
    static long checkedRowBytes(TensorType t, MemorySegment w, int n, int r0, int r1, Activation a) {
        if (!a.kind.equals(activationType(t))) {
            throw new IllegalArgumentException("activation prepared as " + a.kind + " but " + t.typeName() + " rows take " + activationType(t));
        }
        if (a.n != n) throw new IllegalArgumentException("activation has " + a.n + " values, rows have " + n);
        long rowBytes = t.byteSize(new long[]{n});
        if (r0 < 0 || r1 < r0 || (long) r1 * rowBytes > w.byteSize()) {
            throw new IndexOutOfBoundsException("rows [" + r0 + ", " + r1 + ") of " + rowBytes + " bytes in a " + w.byteSize() + "-byte weight");
        }
        return rowBytes;
    }

    static void checkBatch(Activation[] as, int T) {
        if (T < 0 || T > as.length) throw new IllegalArgumentException(T + " tokens but " + as.length + " activations");
    }

    /** The slow path: row r dequantized with its codec into scratch, then a float dot product. */
    static float slowDot(TensorType t, MemorySegment w, int n, int r, Activation a, Kernels k) {
        float[] row = SCRATCH.get();
        if (row.length < n) SCRATCH.set(row = new float[n]);
        TensorCodecs.codec(t).dequantize(w, (long) r * n, n, n, row, 0);
        return k.dot(row, 0, a.f, 0, n);
    }

    /** The slow path over a batch: each row dequantized once, then dotted with every token (as {@link #slowDot} does, token by token). */
    static void slowMatmul(TensorType t, MemorySegment w, int n, int r0, int r1, Activation[] as, int T, float[] y, int ldy, Kernels k) {
        float[] row = SCRATCH.get();
        if (row.length < n) SCRATCH.set(row = new float[n]);
        for (int r = r0; r < r1; r++) {
            TensorCodecs.codec(t).dequantize(w, (long) r * n, n, n, row, 0);
            for (int tok = 0; tok < T; tok++) y[tok * ldy + r] = k.dot(row, 0, as[tok].f, 0, n);
        }
    }

    /**
     * Row int8 (row at byte {@code at}, n int8 then k outlier columns): readies the activation's int8 form for this
     * row's outlier columns. Both twins call it before their integer sum.
     */
    static void readyRowInt8(MemorySegment w, long at, int n, int k, Activation a) {
        a.readyRowInt8(w, at + 4 + n, k);
    }

    /**
     * Row int8: the integer sum of int8 weights times int8 activation scaled by both scales, plus the outlier
     * columns' fp16 weights times the float activation. Shared by both twins, so equal sums give equal results.
     */
    static float finishRowInt8(MemorySegment w, long at, int n, int k, Activation a, int sum) {
        float s = sum * (w.get(F32, at) * a.scale);
        long vals = at + 4 + n + 4L * k;
        for (int c = 0; c < k; c++) s += half(w, vals + 2L * c) * a.outliers[c];
        return s;
    }

    static float half(MemorySegment w, long at) {
        return Float.float16ToFloat(w.get(I16, at));
    }

    /** Q4_K's 6-bit scale (j < 8) or min (j >= 8) of sub-block j % 8, unpacked from the 12 scale bytes at {@code at} (ggml's get_scale_min_k4). */
    static int q4kScaleMin(MemorySegment w, long at, int j) {
        boolean min = j >= 8;
        j &= 7;
        if (j < 4) return w.get(I8, at + j + (min ? 4 : 0)) & 63;
        int lo = w.get(I8, at + j + 4) & 0xFF;
        int hi = (w.get(I8, at + j - (min ? 0 : 4)) & 0xFF) >> 6;
        return (min ? lo >> 4 : lo & 0xF) | hi << 4;
    }
}
