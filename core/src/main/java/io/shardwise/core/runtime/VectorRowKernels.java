package io.shardwise.core.runtime;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static io.shardwise.core.runtime.WeightRows.I8;
import static io.shardwise.core.runtime.WeightRows.half;

/**
 * Vector API row kernels; {@link ScalarRowKernels} is the twin. Quantized weights are multiplied as integers, as
 * ggml's AVX kernels do: int8 bytes widened to shorts (activations are stored widened), short products summed in
 * pairs to ints, then each block's int sums scaled in float. Float accumulation order differs from the twin's.
 */
public final class VectorRowKernels implements RowKernels {
    public static final VectorRowKernels INSTANCE = new VectorRowKernels();

    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SS = ShortVector.SPECIES_PREFERRED;
    /** Bytes that widen to one full short vector. */
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(SS.vectorBitSize() / 2));
    /** Halfs/bfloats that widen to one full float vector. */
    private static final VectorSpecies<Short> HS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    /** Q4_0's half-width lanes: 16 bytes of nibbles per block. */
    private static final VectorSpecies<Byte> BQ = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, SS.vectorBitSize() / 4)));
    private static final VectorSpecies<Short> SQ = VectorSpecies.of(short.class, VectorShape.forBitSize(BQ.vectorBitSize() * 2));
    private static final VectorSpecies<Float> FQ = VectorSpecies.of(float.class, VectorShape.forBitSize(BQ.vectorBitSize() * 2));
    private static final int FL = FS.length(), SL = SS.length(), QL = SQ.length();
    /** With 32 shorts a vector spans two 16-value Q6_K scale groups: int lanes 8-15 take the second. */
    private static final VectorMask<Integer> UPPER_HALF = VectorMask.fromLong(IS, 0xFF00L);

    private VectorRowKernels() {
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
        // one row stays in L1 while every token's activation passes over it
        for (int r = r0; r < r1; r++) {
            for (int tok = 0; tok < T; tok++) y[tok * ldy + r] = dot(t, w, r, r * rowBytes, n, as[tok]);
        }
    }

    private static float dot(TensorType t, MemorySegment w, int r, long at, int n, Activation a) {
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
        return WeightRows.slowDot(t, w, n, r, a, VectorKernels.INSTANCE);
    }

    static float dotF32(MemorySegment w, long at, int n, float[] x) {
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0;
        int i = 0;
        for (; i + 2 * FL <= n; i += 2 * FL) {
            acc0 = FloatVector.fromMemorySegment(FS, w, at + 4L * i, LE).fma(FloatVector.fromArray(FS, x, i), acc0);
            acc1 = FloatVector.fromMemorySegment(FS, w, at + 4L * (i + FL), LE).fma(FloatVector.fromArray(FS, x, i + FL), acc1);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += w.get(WeightRows.F32, at + 4L * i) * x[i];
        return s;
    }

    /** IEEE halfs to floats: the 15 magnitude bits moved to a float's place and scaled by 2^112 (exact for normals and subnormals); exponent 31 is infinity or NaN. */
    static FloatVector halfsToFloats(MemorySegment w, long at) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(HS, w, at, LE).convertShape(VectorOperators.S2I, IS, 0);
        IntVector mag = h.and(0x7fff);
        IntVector moved = mag.lanewise(VectorOperators.LSHL, 13);
        IntVector bits = moved.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts()
                .blend(moved.or(0x7f800000), mag.compare(VectorOperators.GE, 0x7c00))
                .or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16));
        return bits.reinterpretAsFloats();
    }

    static float dotF16(MemorySegment w, long at, int n, float[] x) {
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0;
        int i = 0;
        for (; i + 2 * FL <= n; i += 2 * FL) {
            acc0 = halfsToFloats(w, at + 2L * i).fma(FloatVector.fromArray(FS, x, i), acc0);
            acc1 = halfsToFloats(w, at + 2L * (i + FL)).fma(FloatVector.fromArray(FS, x, i + FL), acc1);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += half(w, at + 2L * i) * x[i];
        return s;
    }

    static FloatVector bfloatsToFloats(MemorySegment w, long at) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(HS, w, at, LE).convertShape(VectorOperators.S2I, IS, 0);
        return h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    static float dotBF16(MemorySegment w, long at, int n, float[] x) {
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0;
        int i = 0;
        for (; i + 2 * FL <= n; i += 2 * FL) {
            acc0 = bfloatsToFloats(w, at + 2L * i).fma(FloatVector.fromArray(FS, x, i), acc0);
            acc1 = bfloatsToFloats(w, at + 2L * (i + FL)).fma(FloatVector.fromArray(FS, x, i + FL), acc1);
        }
        float s = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += Float.intBitsToFloat(w.get(WeightRows.I16, at + 2L * i) << 16) * x[i];
        return s;
    }

    /** Short products summed in neighbouring pairs: one int per two lanes, no overflow for products of int8-sized values. */
    private static IntVector pairSum(ShortVector p) {
        IntVector v = p.reinterpretAsInts();
        return v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(v.lanewise(VectorOperators.ASHR, 16));
    }

    private static ShortVector widen(MemorySegment w, long at) {
        return (ShortVector) ByteVector.fromMemorySegment(BS, w, at, LE).convertShape(VectorOperators.B2S, SS, 0);
    }

    /** acc + float(v) * scale. */
    private static FloatVector fmaScaled(IntVector v, float scale, FloatVector acc) {
        return ((FloatVector) v.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(acc.species(), scale), acc);
    }

    /** The int products of one Q8_0 block's 32 quants with the activation's, as pair sums. */
    private static IntVector q8_0Block(MemorySegment w, long o, short[] q, int qa) {
        IntVector s = pairSum(widen(w, o + 2).mul(ShortVector.fromArray(SS, q, qa)));
        for (int j = SL; j < 32; j += SL) s = s.add(pairSum(widen(w, o + 2 + j).mul(ShortVector.fromArray(SS, q, qa + j))));
        return s;
    }

    static float dotQ8_0(MemorySegment w, long at, int n, Activation a) {
        int nb = n / 32;
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0;
        int b = 0;
        // two blocks per step, two accumulators: the FMA chain is not the bottleneck
        for (; b + 2 <= nb; b += 2) {
            long o = at + 34L * b;
            acc0 = fmaScaled(q8_0Block(w, o, a.q, 32 * b), half(w, o) * a.d[b], acc0);
            acc1 = fmaScaled(q8_0Block(w, o + 34, a.q, 32 * b + 32), half(w, o + 34) * a.d[b + 1], acc1);
        }
        if (b < nb) acc0 = fmaScaled(q8_0Block(w, at + 34L * b, a.q, 32 * b), half(w, at + 34L * b) * a.d[b], acc0);
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** Q4_0 in half-width vectors (16 nibble bytes): sum (nib - 8) a = sum nib a - 8 sum a, the activation sums precomputed. */
    static float dotQ4_0(MemorySegment w, long at, int n, Activation a) {
        int nb = n / 32;
        short[] q = a.q;
        FloatVector acc = FloatVector.zero(FQ);
        float corr = 0;
        for (int b = 0; b < nb; b++) {
            long o = at + 18L * b;
            int qa = 32 * b;
            IntVector s = null;
            for (int j = 0; j < 16; j += QL) {
                ShortVector v = (ShortVector) ByteVector.fromMemorySegment(BQ, w, o + 2 + j, LE).convertShape(VectorOperators.B2S, SQ, 0);
                ShortVector lo = v.and((short) 0xF), hi = v.lanewise(VectorOperators.ASHR, 4).and((short) 0xF);
                ShortVector p = lo.mul(ShortVector.fromArray(SQ, q, qa + j)).add(hi.mul(ShortVector.fromArray(SQ, q, qa + 16 + j)));
                s = s == null ? pairSum(p) : s.add(pairSum(p));
            }
            float scale = half(w, o) * a.d[b];
            acc = fmaScaled(s, scale, acc);
            corr += scale * a.sums[b];
        }
        return acc.reduceLanes(VectorOperators.ADD) - 8 * corr;
    }

    static float dotQ4_K(MemorySegment w, long at, int n, Activation a) {
        int nb = n / 256;
        short[] q = a.q, sums = a.sums;
        FloatVector acc = FloatVector.zero(FS);
        float corr = 0;
        for (int b = 0; b < nb; b++) {
            long o = at + 144L * b;
            int qa = 256 * b, sa = 16 * b;
            // the 12 scale bytes as three little-endian ints, unpacked into 8 scales (sc) and 8 mins (mn), one per byte
            int u0 = w.get(WeightRows.I32, o + 4), u1 = w.get(WeightRows.I32, o + 8), u2 = w.get(WeightRows.I32, o + 12);
            int sc0 = u0 & 0x3f3f3f3f;
            int sc1 = (u2 & 0x0f0f0f0f) | ((u0 >>> 6) & 0x03030303) << 4;
            int mn0 = u1 & 0x3f3f3f3f;
            int mn1 = ((u2 >>> 4) & 0x0f0f0f0f) | ((u1 >>> 6) & 0x03030303) << 4;
            int mins = 0;
            for (int j = 0; j < 4; j++) {
                mins += ((mn0 >>> 8 * j) & 0xFF) * (sums[sa + 2 * j] + sums[sa + 2 * j + 1]);
                mins += ((mn1 >>> 8 * j) & 0xFF) * (sums[sa + 8 + 2 * j] + sums[sa + 8 + 2 * j + 1]);
            }
            IntVector s = IntVector.zero(IS);
            for (int c = 0; c < 4; c++) {
                int sc = c < 2 ? sc0 : sc1;
                int scLo = (sc >>> (16 * (c & 1))) & 0xFF, scHi = (sc >>> (16 * (c & 1) + 8)) & 0xFF;
                for (int j = 0; j < 32; j += SL) {
                    ShortVector v = widen(w, o + 16 + 32 * c + j);
                    IntVector pl = pairSum(v.and((short) 0xF).mul(ShortVector.fromArray(SS, q, qa + 64 * c + j)));
                    IntVector ph = pairSum(v.lanewise(VectorOperators.ASHR, 4).and((short) 0xF).mul(ShortVector.fromArray(SS, q, qa + 64 * c + 32 + j)));
                    s = s.add(pl.mul(scLo)).add(ph.mul(scHi));
                }
            }
            acc = fmaScaled(s, half(w, o) * a.d[b], acc);
            corr += half(w, o + 2) * a.d[b] * mins;
        }
        return acc.reduceLanes(VectorOperators.ADD) - corr;
    }

    /** The int8 scale of Q6_K group g for every int lane of a pair-summed vector starting at value 16g. */
    private static IntVector q6kScales(MemorySegment w, long scales, int g) {
        IntVector s = IntVector.broadcast(IS, w.get(I8, scales + g));
        return SL == 32 ? s.blend(w.get(I8, scales + g + 1), UPPER_HALF) : s;
    }

    /** Q6_K: sum (q - 32) a = sum q a - 32 sum a, the activation sums per 16 being Q8_K's bsums. */
    static float dotQ6_K(MemorySegment w, long at, int n, Activation a) {
        int nb = n / 256;
        short[] q = a.q, sums = a.sums;
        FloatVector acc = FloatVector.zero(FS);
        float corr = 0;
        for (int b = 0; b < nb; b++) {
            long o = at + 210L * b, scales = o + 192;
            int qa = 256 * b;
            int bias = 0;
            for (int g = 0; g < 16; g++) bias += w.get(I8, scales + g) * sums[16 * b + g];
            IntVector s = IntVector.zero(IS);
            for (int half = 0; half < 2; half++) {
                long ql = o + 64L * half, qh = o + 128 + 32L * half;
                int qb = qa + 128 * half;
                for (int j = 0; j < 32; j += SL) {
                    ShortVector lo = widen(w, ql + j), hi = widen(w, ql + 32 + j), h = widen(w, qh + j);
                    ShortVector e0 = lo.and((short) 0xF).or(h.lanewise(VectorOperators.LSHL, 4).and((short) 0x30));
                    ShortVector e1 = hi.and((short) 0xF).or(h.lanewise(VectorOperators.LSHL, 2).and((short) 0x30));
                    ShortVector e2 = lo.lanewise(VectorOperators.ASHR, 4).and((short) 0xF).or(h.and((short) 0x30));
                    ShortVector e3 = hi.lanewise(VectorOperators.ASHR, 4).and((short) 0xF).or(h.lanewise(VectorOperators.ASHR, 2).and((short) 0x30));
                    int g = (128 * half + j) / 16;
                    s = s.add(pairSum(e0.mul(ShortVector.fromArray(SS, q, qb + j))).mul(q6kScales(w, scales, g)));
                    s = s.add(pairSum(e1.mul(ShortVector.fromArray(SS, q, qb + 32 + j))).mul(q6kScales(w, scales, g + 2)));
                    s = s.add(pairSum(e2.mul(ShortVector.fromArray(SS, q, qb + 64 + j))).mul(q6kScales(w, scales, g + 4)));
                    s = s.add(pairSum(e3.mul(ShortVector.fromArray(SS, q, qb + 96 + j))).mul(q6kScales(w, scales, g + 6)));
                }
            }
            float scale = half(w, o + 208) * a.d[b];
            acc = fmaScaled(s, scale, acc);
            corr += scale * 32 * bias;
        }
        return acc.reduceLanes(VectorOperators.ADD) - corr;
    }
}
