package io.shardwise.core.runtime;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.TensorType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
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
    private static final int FL = FS.length(), SL = SS.length();

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
        if (!WeightRows.isNative(t)) {
            WeightRows.slowMatmul(t, w, n, r0, r1, as, T, y, ldy, VectorKernels.INSTANCE);
            return;
        }
        // one row stays in L1 while every token's activation passes over it
        for (int r = r0; r < r1; r++) {
            for (int tok = 0; tok < T; tok++) y[tok * ldy + r] = dot(t, w, r, r * rowBytes, n, as[tok]);
        }
    }

    @Override
    public void matvecSparse(Sparse24Rows w, int r0, int r1, Activation a, float[] y, int yOff) {
        w.check(a, r0, r1);
        long rowBytes = w.rowBytes();
        for (int r = r0; r < r1; r++) y[yOff + r - r0] = VectorSparse24.dot(w, r * rowBytes, a);
    }

    @Override
    public void matmulSparse(Sparse24Rows w, int r0, int r1, Activation[] as, int T, float[] y, int ldy) {
        WeightRows.checkBatch(as, T);
        for (int tok = 0; tok < T; tok++) w.check(as[tok], r0, r1);
        long rowBytes = w.rowBytes();
        for (int r = r0; r < r1; r++) {
            for (int tok = 0; tok < T; tok++) y[tok * ldy + r] = VectorSparse24.dot(w, r * rowBytes, as[tok]);
        }
    }

    private static float dot(TensorType t, MemorySegment w, int r, long at, int n, Activation a) {
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
        return WeightRows.slowDot(t, w, n, r, a, VectorKernels.INSTANCE);
    }

    static float dotF32(MemorySegment w, long at, int n, float[] x) {
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0;
        int i = 0;
        for (; i + 2 * FL <= n; i += 2 * FL) {
            acc0 = FloatVector.fromMemorySegment(FS, w, at + 4L * i, LE).fma(FloatVector.fromArray(FS, x, i), acc0);
            acc1 = FloatVector.fromMemorySegment(FS, w, at + 4L * (i + FL), LE).fma(FloatVector.fromArray(FS, x, i + FL), acc1);
        }
        float s = VectorKernels.sumLanes(acc0.add(acc1));
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
        float s = VectorKernels.sumLanes(acc0.add(acc1));
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
        float s = VectorKernels.sumLanes(acc0.add(acc1));
        for (; i < n; i++) s += Float.intBitsToFloat(w.get(WeightRows.I16, at + 2L * i) << 16) * x[i];
        return s;
    }

    /**
     * Short lanes summed in neighbouring pairs: one int per two lanes, the sum formed in the int's upper half (3 ops,
     * not 4). Exact while each pair's sum fits a short, as it does for every caller: at most 2 * 16256 (int8 * int8,
     * or two 6-bit * int8 products).
     */
    private static IntVector pairSum(ShortVector p) {
        IntVector v = p.reinterpretAsInts();
        return v.add(v.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
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
        return VectorKernels.sumLanes(acc0.add(acc1));
    }

    /**
     * Row int8 (W8A8 / LLM.int8()): the whole row's int8 x int8 products summed in int lanes (|pair sum| <= 2 * 127^2
     * fits a short; an int lane holds rows far longer than any model's), one float multiply by both scales at the end.
     */
    static float dotRowInt8(MemorySegment w, long at, int n, int k, Activation a) {
        WeightRows.readyRowInt8(w, at, n, k, a);
        short[] q = a.q;
        long o = at + 4;
        IntVector acc0 = IntVector.zero(IS), acc1 = acc0;
        int j = 0;
        for (; j + 2 * SL <= n; j += 2 * SL) {
            acc0 = acc0.add(pairSum(widen(w, o + j).mul(ShortVector.fromArray(SS, q, j))));
            acc1 = acc1.add(pairSum(widen(w, o + j + SL).mul(ShortVector.fromArray(SS, q, j + SL))));
        }
        int sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) sum += w.get(I8, o + j) * q[j];
        return WeightRows.finishRowInt8(w, at, n, k, a, sum);
    }

    /*
     * Q4_0, Q4_K and Q6_K have Vector API paths for 512-bit vectors (32 shorts: AVX-512), written so that C2 inlines
     * each whole kernel (few MemorySegment accesses per block: each pulls a large inlining tree); other widths use the
     * scalar twin's code.
     */
    private static final boolean WIDE = SL == 32;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Byte> B512 = ByteVector.SPECIES_512;
    /** Q4_0: the 16 nibble bytes twice over, low nibbles in lanes 0-15 and high nibbles in 16-31. */
    private static final VectorShuffle<Short> TWICE = WIDE ? VectorShuffle.fromOp(SS, i -> i & 15) : null;
    private static final ShortVector NIBBLE_SHIFT = WIDE ? ShortVector.fromArray(SS, upperHalf(4), 0) : null;
    /** Q6_K: qh's 32 bytes twice over in 64 byte lanes, the second copy shifted right by 2 (as 16 shorts). */
    private static final VectorShuffle<Byte> DUP32 = WIDE ? VectorShuffle.fromOp(B512, i -> i & 31) : null;
    private static final ShortVector QH_SHIFT = WIDE ? ShortVector.fromArray(SS, upperHalf(2), 0) : null;
    /** Q6_K: for the m-th 64 values of a block, the scales of its sub-blocks 4m..4m+3, four int lanes each. */
    private static final VectorShuffle<Integer> Q0 = scalesOf(0), Q1 = scalesOf(1), Q2 = scalesOf(2), Q3 = scalesOf(3);

    private static VectorShuffle<Integer> scalesOf(int m) {
        return WIDE ? VectorShuffle.fromOp(IS, i -> 4 * m + i / 4) : null;
    }

    /** Bytes [32 p, 32 p + 32) of a 64-byte vector, widened to 32 shorts. */
    private static ShortVector part(ByteVector v, int p) {
        // part 1 by slicing first: C2 does not intrinsify an expanding conversion of a nonzero part
        return (ShortVector) (p == 0 ? v : v.slice(32)).convertShape(VectorOperators.B2S, SS, 0);
    }

    /** 32 shorts: 0 in lanes 0-15, {@code shift} in lanes 16-31. */
    private static short[] upperHalf(int shift) {
        short[] s = new short[32];
        for (int i = 16; i < 32; i++) s[i] = (short) shift;
        return s;
    }

    /** Q4_0: sum (nib - 8) a = sum nib a - 8 sum a, the activation's block sums precomputed. */
    static float dotQ4_0(MemorySegment w, long at, int n, Activation a) {
        if (!WIDE) return ScalarRowKernels.dotQ4_0(w, at, n, a);
        int nb = n / 32;
        short[] q = a.q;
        FloatVector acc = FloatVector.zero(FS);
        float corr = 0;
        for (int b = 0; b < nb; b++) {
            long o = at + 18L * b;
            ShortVector v = (ShortVector) ByteVector.fromMemorySegment(B128, w, o + 2, LE).convertShape(VectorOperators.B2S, SS, 0);
            ShortVector nib = v.rearrange(TWICE).lanewise(VectorOperators.ASHR, NIBBLE_SHIFT).and((short) 0xF);
            float scale = half(w, o) * a.d[b];
            acc = fmaScaled(pairSum(nib.mul(ShortVector.fromArray(SS, q, 32 * b))), scale, acc);
            corr += scale * a.sums[b];
        }
        return VectorKernels.sumLanes(acc) - 8 * corr;
    }

    static float dotQ4_K(MemorySegment w, long at, int n, Activation a) {
        if (!WIDE) return ScalarRowKernels.dotQ4_K(w, at, n, a);
        int nb = n / 256;
        short[] q = a.q, sums = a.sums;
        FloatVector acc = FloatVector.zero(FS);
        float corr = 0;
        for (int b = 0; b < nb; b++) {
            long o = at + 144L * b;
            int qa = 256 * b, sa = 16 * b;
            // the 12 scale bytes as three little-endian ints, unpacked into 8 scales (sc) and 8 mins (mn), one per byte
            long u01 = w.get(WeightRows.I64, o + 4);
            int u0 = (int) u01, u1 = (int) (u01 >>> 32), u2 = w.get(WeightRows.I32, o + 12);
            long sc = (u0 & 0x3f3f3f3fL) | ((long) ((u2 & 0x0f0f0f0f) | ((u0 >>> 6) & 0x03030303) << 4) << 32);
            int mn0 = u1 & 0x3f3f3f3f;
            int mn1 = ((u2 >>> 4) & 0x0f0f0f0f) | ((u1 >>> 6) & 0x03030303) << 4;
            int mins = 0;
            for (int j = 0; j < 4; j++) {
                mins += ((mn0 >>> 8 * j) & 0xFF) * (sums[sa + 2 * j] + sums[sa + 2 * j + 1]);
                mins += ((mn1 >>> 8 * j) & 0xFF) * (sums[sa + 8 + 2 * j] + sums[sa + 8 + 2 * j + 1]);
            }
            float dd = half(w, o) * a.d[b];
            for (int c = 0; c < 4; c++) {
                // 32 bytes: low nibbles are values [64c, 64c+32) of sub-block 2c, high nibbles the next 32 of sub-block 2c+1
                ShortVector v = widen(w, o + 16 + 32 * c);
                int scLo = (int) (sc >>> (16 * c)) & 0xFF, scHi = (int) (sc >>> (16 * c + 8)) & 0xFF;
                IntVector pl = pairSum(v.and((short) 0xF).mul(ShortVector.fromArray(SS, q, qa + 64 * c)));
                IntVector ph = pairSum(v.lanewise(VectorOperators.ASHR, 4).and((short) 0xF).mul(ShortVector.fromArray(SS, q, qa + 64 * c + 32)));
                // each sub-block's scale applied in float: the FMA pipes, not the (scarcer) vector integer multiplier
                acc = fmaScaled(ph, dd * scHi, fmaScaled(pl, dd * scLo, acc));
            }
            corr += half(w, o + 2) * a.d[b] * mins;
        }
        return VectorKernels.sumLanes(acc) - corr;
    }

    /** Per thread: the Q6_K row being dotted, copied to the heap (see dotQ6_K), with room for the last block's 64-byte qh load. */
    private static final ThreadLocal<byte[]> ROW = ThreadLocal.withInitial(() -> new byte[0]);

    /**
     * Q6_K: sum (q - 32) a = sum q a - 32 sum a, the activation sums per 16 being Q8_K's bsums. The 6-bit quants of
     * 64 values at a time are built as bytes in one 512-bit vector (nibbles of ql, two bits of qh shifted by lanes),
     * then read as 32 shorts whose low and high bytes are the even and odd values, multiplied by the activation kept
     * in that even/odd order. The row is first copied to a heap array: vector loads from an array are far smaller in
     * C2's graph than MemorySegment loads, and the segment version exceeds the inlining budget (and boxes its vectors).
     */
    static float dotQ6_K(MemorySegment w, long at, int n, Activation a) {
        if (!WIDE) return ScalarRowKernels.dotQ6_K(w, at, n, a);
        int nb = n / 256, rowBytes = 210 * nb;
        byte[] row = ROW.get();
        if (row.length < rowBytes + 64) ROW.set(row = new byte[rowBytes + 64]);
        MemorySegment.copy(w, I8, at, row, 0, rowBytes);
        short[] q = a.qEvenOdd, sums = a.sums;
        FloatVector acc = FloatVector.zero(FS);
        for (int b = 0; b < nb; b++) {
            int o = 210 * b;
            IntVector scales = (IntVector) ByteVector.fromArray(B128, row, o + 192).convertShape(VectorOperators.B2I, IS, 0);
            IntVector bsums = (IntVector) ShortVector.fromArray(S256, sums, 16 * b).convertShape(VectorOperators.S2I, IS, 0);
            // the - 32 sum a term joins the lanes (they are summed at the end anyway): no reduction per block
            IntVector s = scales.mul(bsums).lanewise(VectorOperators.LSHL, 5).neg();
            for (int half = 0; half < 2; half++) {
                // bytes l < 32: value 32k+l of the half for k = 0 (low nibble of ql[l]) and 2 (high); bytes 32 + l: k = 1 and 3
                ByteVector ql = ByteVector.fromArray(B512, row, o + 64 * half);
                // qh[l] in bytes l and 32 + l, the latter shifted right by 2 (bits from the neighbour byte are masked off below)
                ShortVector hx = ByteVector.fromArray(B512, row, o + 128 + 32 * half).rearrange(DUP32).reinterpretAsShorts()
                        .lanewise(VectorOperators.LSHR, QH_SHIFT);
                ByteVector lo = ql.and((byte) 0x0F).or(hx.lanewise(VectorOperators.LSHL, 4).reinterpretAsBytes().and((byte) 0x30));
                ByteVector hi = ql.reinterpretAsShorts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F)
                        .or(hx.reinterpretAsBytes().and((byte) 0x30));
                int qb = 256 * b + 128 * half;
                s = s.add(q6Products(lo, q, qb).mul(scales.rearrange(half == 0 ? Q0 : Q2)));
                s = s.add(q6Products(hi, q, qb + 64).mul(scales.rearrange(half == 0 ? Q1 : Q3)));
            }
            float scale = Float.float16ToFloat((short) ((row[o + 209] << 8) | (row[o + 208] & 0xFF))) * a.d[b];
            acc = fmaScaled(s, scale, acc);
        }
        return VectorKernels.sumLanes(acc);
    }

    /** 64 six-bit quants (bytes) times the activation's 64 values at {@code at} (even/odd order): 16 int sums, four values each. */
    private static IntVector q6Products(ByteVector v, short[] q, int at) {
        ShortVector pairs = v.reinterpretAsShorts();
        // even times even plus odd times odd: |sum| <= 2 * 63 * 128, a short
        return pairSum(pairs.and((short) 0xFF).mul(ShortVector.fromArray(SS, q, at))
                .add(pairs.lanewise(VectorOperators.LSHR, 8).mul(ShortVector.fromArray(SS, q, at + 32))));
    }
}
