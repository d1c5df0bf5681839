package io.shardwise.core.runtime;

import io.shardwise.core.tensor.GgmlType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The Vector API dot of a packed 2:4 row ({@link Sparse24Rows}); {@link ScalarRowKernels#dotSparse24} is the twin.
 * The activation is read in chunk order: for a chunk's groups in the lanes, the four vectors of their columns 0..3.
 * Each lane picks its group's column i0 among 0..2 and i1 among 1..3 by two blends each (no gathers or permutes, which
 * AVX2 lacks across two vectors), then multiplies the kept values. First and second values sum in separate lanes,
 * so the order of summation differs from the twin's (results agree to rounding, not bit for bit).
 */
final class VectorSparse24 {
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    private static final int FL = FS.length();
    /** 8 or 16 lanes: a chunk of 16 groups is 2 or 1 vector steps; other widths run the scalar twin. */
    static final boolean USABLE = FL == 8 || FL == 16;
    /** Halfs that widen to one float vector. */
    private static final VectorSpecies<Short> HS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    /** One position byte per lane. */
    private static final VectorSpecies<Byte> BS = USABLE ? VectorSpecies.of(byte.class, VectorShape.forBitSize(FL * 8)) : null;

    private VectorSparse24() {
    }

    static float dot(Sparse24Rows w, long at, Activation a) {
        if (!USABLE) return ScalarRowKernels.dotSparse24(w, at, a.f);
        float[] x = Sparse24Rows.sparseOrder(a);
        MemorySegment d = w.data();
        GgmlType t = w.type();
        int es = Sparse24Rows.elementBytes(t), chunks = Sparse24Rows.chunks(w.in()), G = Sparse24Rows.GROUPS;
        long chunkBytes = Sparse24Rows.chunkBytes(t), codes = 2L * G * es;
        FloatVector acc0 = FloatVector.zero(FS), acc1 = acc0;
        for (int c = 0; c < chunks; c++) {
            long o = at + c * chunkBytes;
            int xo = c * Sparse24Rows.CHUNK;
            for (int h = 0; h < G; h += FL) {
                IntVector code = (IntVector) ByteVector.fromMemorySegment(BS, d, o + codes + h, LE).convertShape(VectorOperators.B2I, IS, 0);
                IntVector i0 = code.and(3), i1 = code.lanewise(VectorOperators.LSHR, 2);
                IntVector x0 = FloatVector.fromArray(FS, x, xo + h).reinterpretAsInts();
                IntVector x1 = FloatVector.fromArray(FS, x, xo + G + h).reinterpretAsInts();
                IntVector x2 = FloatVector.fromArray(FS, x, xo + 2 * G + h).reinterpretAsInts();
                IntVector x3 = FloatVector.fromArray(FS, x, xo + 3 * G + h).reinterpretAsInts();
                FloatVector first = x0.blend(x1, i0.compare(VectorOperators.EQ, 1)).blend(x2, i0.compare(VectorOperators.EQ, 2)).reinterpretAsFloats();
                FloatVector second = x1.blend(x2, i1.compare(VectorOperators.EQ, 2)).blend(x3, i1.compare(VectorOperators.EQ, 3)).reinterpretAsFloats();
                acc0 = values(t, d, o + (long) h * es).fma(first, acc0);
                acc1 = values(t, d, o + (long) (G + h) * es).fma(second, acc1);
            }
        }
        return VectorKernels.sumLanes(acc0.add(acc1));
    }

    /**
     * Finite IEEE halfs to floats in 4 lane ops: sign-extended to ints and shifted by 13, the sign stays in bit 31 and
     * the 15 magnitude bits land in a float's place once bits 28-30 are cleared; times 2^112 rebiases the exponent
     * (exact for normals and subnormals). {@link Sparse24Rows#pack} leaves matrices with an infinity or NaN dense.
     */
    private static FloatVector finiteHalfsToFloats(MemorySegment d, long at) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(HS, d, at, LE).convertShape(VectorOperators.S2I, IS, 0);
        return h.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().mul(0x1p112f);
    }

    private static FloatVector values(GgmlType t, MemorySegment d, long at) {
        return switch (t) {
            case F32 -> FloatVector.fromMemorySegment(FS, d, at, LE);
            case F16 -> finiteHalfsToFloats(d, at);
            default -> VectorRowKernels.bfloatsToFloats(d, at);
        };
    }
}
