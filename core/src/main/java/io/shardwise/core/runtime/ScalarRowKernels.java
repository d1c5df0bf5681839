package io.shardwise.core.runtime;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;

import static io.shardwise.core.runtime.WeightRows.F32;
import static io.shardwise.core.runtime.WeightRows.I16;
import static io.shardwise.core.runtime.WeightRows.I8;
import static io.shardwise.core.runtime.WeightRows.half;

/**
 * Plain loops: the reference twin of {@link VectorRowKernels}. The quantized dots follow ggml-cpu's
 * {@code ggml_vec_dot_<type>_q8_<0|K>_generic}: exact integer sums per block (sub-block for K-quants), then one float
 * multiply by the block scales.
 */
public final class ScalarRowKernels implements RowKernels {
    public static final ScalarRowKernels INSTANCE = new ScalarRowKernels();

    private ScalarRowKernels() {
    }

    @Override
    public void prepare(TensorType t, float[] x, int off, int n, Activation into) {
        WeightRows.prepare(t, x, off, n, into);
    }

    @Override
    public void matvec(TensorType t, MemorySegment w, int n, int r0, int r1, Activation a, float[] y, int yOff) {
        long rowBytes = WeightRows.checkedRowBytes(t, w, n, r0, r1, a);
        for (int r = r0; r < r1; r++) y[yOff + r - r0] = dot(t, w, r, r * rowBytes, n, a);
    }

    @Override
    public void matmul(TensorType t, MemorySegment w, int n, int r0, int r1, Activation[] as, int T, float[] y, int ldy) {
        WeightRows.checkBatch(as, T);
        long rowBytes = 0;
        for (int tok = 0; tok < T; tok++) rowBytes = WeightRows.checkedRowBytes(t, w, n, r0, r1, as[tok]);
        if (!WeightRows.isNative(t)) {
            WeightRows.slowMatmul(t, w, n, r0, r1, as, T, y, ldy, ScalarKernels.INSTANCE);
            return;
        }
        for (int r = r0; r < r1; r++) {
            for (int tok = 0; tok < T; tok++) y[tok * ldy + r] = dot(t, w, r, r * rowBytes, n, as[tok]);
        }
    }

    @Override
    public void matvecSparse(Sparse24Rows w, int r0, int r1, Activation a, float[] y, int yOff) {
        w.check(a, r0, r1);
        long rowBytes = w.rowBytes();
        for (int r = r0; r < r1; r++) y[yOff + r - r0] = dotSparse24(w, r * rowBytes, a.f);
    }

    @Override
    public void matmulSparse(Sparse24Rows w, int r0, int r1, Activation[] as, int T, float[] y, int ldy) {
        WeightRows.checkBatch(as, T);
        for (int tok = 0; tok < T; tok++) w.check(as[tok], r0, r1);
        long rowBytes = w.rowBytes();
        for (int r = r0; r < r1; r++) {
            for (int tok = 0; tok < T; tok++) y[tok * ldy + r] = dotSparse24(w, r * rowBytes, as[tok].f);
        }
    }

    /**
     * A packed 2:4 row: each group's two kept products added in column order, groups in order. The dense twin adds the
     * same products in the same order plus exact zeros (0 * x for finite x), so on finite inputs the two are equal.
     */
    static float dotSparse24(Sparse24Rows w, long at, float[] x) {
        MemorySegment d = w.data();
        int es = Sparse24Rows.elementBytes(w.type()), groups = w.in() / 4;
        long chunkBytes = Sparse24Rows.chunkBytes(w.type()), codes = 2L * Sparse24Rows.GROUPS * es;
        float s = 0;
        for (int g = 0; g < groups; g++) {
            long o = at + (g / Sparse24Rows.GROUPS) * chunkBytes;
            int j = g % Sparse24Rows.GROUPS, code = d.get(I8, o + codes + j);
            s += value(w.type(), d, o + (long) j * es) * x[4 * g + (code & 3)];
            s += value(w.type(), d, o + (long) (Sparse24Rows.GROUPS + j) * es) * x[4 * g + (code >> 2)];
        }
        return s;
    }

    private static float value(GgmlType t, MemorySegment d, long at) {
        return switch (t) {
            case F32 -> d.get(F32, at);
            case F16 -> half(d, at);
            default -> Float.intBitsToFloat(d.get(I16, at) << 16);
        };
    }

    /** One row (index r, at byte offset at) dotted with a. */
    static float dot(TensorType t, MemorySegment w, int r, long at, int n, Activation a) {
        if (t instanceof RowInt8Type ri) return dotRowInt8(w, at, n, ri.outliers(), a);
        if (t instanceof GgmlType g) {
            switch (g) {
                case F32: return dotF32(w, at, n, a.f);
                case F16: return dotF16(w, at, n, a.f);
                case BF16: return dotBF16(w, at, n, a.f);
                case Q8_0: return dotQ8_0(w, at, n, a);
                case Q4_0: return dotQ4_0(w, at, n, a);
                case Q4_K: return dotQ4_K(w, at, n, a);
                case Q6_K: return dotQ6_K(w, at, n, a);
                default: break;
            }
        }
        return WeightRows.slowDot(t, w, n, r, a, ScalarKernels.INSTANCE);
    }

    static float dotF32(MemorySegment w, long at, int n, float[] x) {
        float s = 0;
        for (int i = 0; i < n; i++) s += w.get(F32, at + 4L * i) * x[i];
        return s;
    }

    static float dotF16(MemorySegment w, long at, int n, float[] x) {
        float s = 0;
        for (int i = 0; i < n; i++) s += half(w, at + 2L * i) * x[i];
        return s;
    }

    static float dotBF16(MemorySegment w, long at, int n, float[] x) {
        float s = 0;
        for (int i = 0; i < n; i++) s += Float.intBitsToFloat(w.get(I16, at + 2L * i) << 16) * x[i];
        return s;
    }

    /** Q8_0 block: fp16 d, int8 qs[32]. */
    static float dotQ8_0(MemorySegment w, long at, int n, Activation a) {
        float s = 0;
        for (int b = 0; b < n / 32; b++) {
            long o = at + 34L * b;
            int sum = 0;
            for (int j = 0; j < 32; j++) sum += w.get(I8, o + 2 + j) * a.q[b * 32 + j];
            s += sum * (half(w, o) * a.d[b]);
        }
        return s;
    }

    /** Row int8 (W8A8 / LLM.int8()): f32 scale, int8 q[n] times the per-token int8 activation, summed exactly in an int. */
    static float dotRowInt8(MemorySegment w, long at, int n, int k, Activation a) {
        WeightRows.readyRowInt8(w, at, n, k, a);
        int sum = 0;
        for (int j = 0; j < n; j++) sum += w.get(I8, at + 4 + j) * a.q[j];
        return WeightRows.finishRowInt8(w, at, n, k, a, sum);
    }

    /** Q4_0 block: fp16 d, qs[16] whose low nibbles are values 0-15 and high nibbles 16-31, value = nibble - 8. */
    static float dotQ4_0(MemorySegment w, long at, int n, Activation a) {
        float s = 0;
        for (int b = 0; b < n / 32; b++) {
            long o = at + 18L * b;
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int v = w.get(I8, o + 2 + j) & 0xFF;
                sum += ((v & 0xF) - 8) * a.q[b * 32 + j] + ((v >> 4) - 8) * a.q[b * 32 + 16 + j];
            }
            s += sum * half(w, o) * a.d[b];
        }
        return s;
    }

    /**
     * Q4_K block: fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins for 8 sub-blocks of 32, qs[128] where byte 32c+l
     * holds value 64c+l (low nibble) and 64c+32+l (high). Value = d*sc*q - dmin*m; the min term uses the bsums.
     */
    static float dotQ4_K(MemorySegment w, long at, int n, Activation a) {
        float s = 0;
        for (int b = 0; b < n / 256; b++) {
            long o = at + 144L * b;
            int qa = b * 256;
            int sumi = 0, mins = 0;
            for (int sb = 0; sb < 8; sb++) {
                int sc = WeightRows.q4kScaleMin(w, o + 4, sb), m = WeightRows.q4kScaleMin(w, o + 4, sb + 8);
                mins += m * (a.sums[b * 16 + 2 * sb] + a.sums[b * 16 + 2 * sb + 1]);
                long qs = o + 16 + 32L * (sb / 2);
                int shift = (sb & 1) * 4, sub = 0;
                for (int l = 0; l < 32; l++) sub += ((w.get(I8, qs + l) >> shift) & 0xF) * a.q[qa + 32 * sb + l];
                sumi += sc * sub;
            }
            s += half(w, o) * a.d[b] * sumi - half(w, o + 2) * a.d[b] * mins;
        }
        return s;
    }

    /**
     * Q6_K block: ql[128], qh[64], int8 scales[16] (one per 16 values), fp16 d. In each half of 128 values, value
     * 32k+l (k < 4) has low bits from ql[l + 32(k&1)] (nibble k/2) and high bits (qh[l] >> 2k) & 3; minus 32.
     */
    static float dotQ6_K(MemorySegment w, long at, int n, Activation a) {
        float s = 0;
        for (int b = 0; b < n / 256; b++) {
            long o = at + 210L * b;
            int sumi = 0;
            for (int half = 0; half < 2; half++) {
                long ql = o + 64L * half, qh = o + 128 + 32L * half;
                for (int k = 0; k < 4; k++) {
                    for (int g = 0; g < 2; g++) {
                        int e0 = 128 * half + 32 * k + 16 * g;
                        int sub = 0;
                        for (int l = 16 * g; l < 16 * g + 16; l++) {
                            int lo = ((w.get(I8, ql + l + 32 * (k & 1)) & 0xFF) >> (4 * (k >> 1))) & 0xF;
                            int hi = ((w.get(I8, qh + l) & 0xFF) >> (2 * k)) & 3;
                            sub += ((lo | hi << 4) - 32) * a.q[b * 256 + 128 * half + 32 * k + l];
                        }
                        sumi += w.get(I8, o + 192 + e0 / 16) * sub;
                    }
                }
            }
            s += half(w, o + 208) * a.d[b] * sumi;
        }
        return s;
    }
}
