package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** ggml Q8_0: blocks of 32 as fp16 scale d = max|x|/127 and 32 int8 round(x/d) (quantize_row_q8_0_ref). */
public final class Q8_0Codec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 34;

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = FS.length();
    /** The vector path narrows one float vector's quants to LANES bytes: 8 or 16 lanes. */
    static final boolean VECTOR_OK = LANES == 8 || LANES == 16;
    private static final VectorSpecies<Byte> BS = VECTOR_OK ? VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * LANES)) : null;
    /** Below this max |x| the scale d = max/127 nears the subnormals, where 1/d loses precision or overflows. */
    private static final float TINY_AMAX = 0x1p-100f;
    /** nextDown(0.5f): added to |q| it rounds half away from zero under truncation, where 0.5f would carry 0.49999997 up to 1. */
    private static final int BELOW_HALF_BITS = Float.floatToRawIntBits(Math.nextDown(0.5f));
    /** Blocks the vector path writes to its heap scratch before one bulk copy into the destination. */
    private static final int CHUNK_BLOCKS = 128;

    @Override
    public TensorType type() {
        return GgmlType.Q8_0;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        if (n % QK != 0) throw new IllegalArgumentException("Q8_0 needs a multiple of 32 values, got " + n);
        if (VECTOR_OK) quantizeVector(src, srcOffset, n, dst, dstOffset);
        else quantizeScalar(src, srcOffset, n, dst, dstOffset);
    }

    /** quantize_row_q8_0_ref block by block: the scalar twin of {@link #quantizeVector}. */
    static void quantizeScalar(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / QK; b++) quantizeBlockScalar(src, srcOffset + b * QK, dst, dstOffset + (long) b * BLOCK_BYTES);
    }

    private static void quantizeBlockScalar(float[] src, int base, MemorySegment dst, long at) {
        float amax = 0;
        for (int j = 0; j < QK; j++) {
            float a = Math.abs(src[base + j]);
            amax = amax > a ? amax : a; // C's MAX macro, not Math.max: they differ once a NaN is seen
        }
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        dst.set(F16Codec.I16_LE, at, F16Codec.floatToHalf(d));
        for (int j = 0; j < QK; j++) {
            float q = src[base + j] * id;
            // x86's float-to-int gives INT_MIN (low byte 0) for NaN/inf/out-of-range, which a subnormal d reaches; Java saturates
            dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (Math.abs(q) < 2147483648f ? roundf(q) : Integer.MIN_VALUE));
        }
    }

    /**
     * quantize_row_q8_0_ref with the Vector API: max |x| by lanes, x * id rounded half away from zero by lanes, blocks
     * written to a heap scratch and copied to dst in bulk. Same bytes as the scalar twin: every step is exact lane by
     * lane. A block whose max is
     * NaN (which C's MAX skips over while the lane max propagates it), infinite (NaN quotients) or so small that 1/d
     * is inexact or overflows goes to the scalar code, which writes x86's 0 for such quotients.
     */
    static void quantizeVector(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        int nb = n / QK;
        byte[] buf = new byte[Math.min(nb, CHUNK_BLOCKS) * BLOCK_BYTES];
        for (int b0 = 0; b0 < nb; b0 += CHUNK_BLOCKS) {
            int blocks = Math.min(CHUNK_BLOCKS, nb - b0);
            for (int i = 0; i < blocks; i++) {
                int base = srcOffset + (b0 + i) * QK;
                if (!quantizeBlockVector(src, base, buf, i * BLOCK_BYTES)) quantizeBlockScalar(src, base, MemorySegment.ofArray(buf), i * BLOCK_BYTES);
            }
            MemorySegment.copy(buf, 0, dst, ValueLayout.JAVA_BYTE, dstOffset + (long) b0 * BLOCK_BYTES, blocks * BLOCK_BYTES);
        }
    }

    /** One block into buf at {@code at}; false (nothing written) for a block the scalar code must take. */
    private static boolean quantizeBlockVector(float[] src, int base, byte[] buf, int at) {
        FloatVector amaxV = FloatVector.fromArray(FS, src, base).abs();
        for (int k = LANES; k < QK; k += LANES) amaxV = amaxV.max(FloatVector.fromArray(FS, src, base + k).abs());
        float amax = amaxV.reduceLanes(VectorOperators.MAX);
        if (!(amax == 0 || (amax >= TINY_AMAX && amax <= Float.MAX_VALUE))) return false; // NaN, infinite or tiny
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        short h = F16Codec.floatToHalf(d);
        buf[at] = (byte) h;
        buf[at + 1] = (byte) (h >> 8);
        for (int k = 0; k < QK; k += LANES) {
            FloatVector q = FloatVector.fromArray(FS, src, base + k).mul(id); // |q| <= about 127
            // roundf(q) = (int) (q + copysign(nextDown(0.5f), q)): checked against roundf for every float of |q| <= 300
            IntVector bits = q.reinterpretAsInts();
            FloatVector half = bits.and(0x80000000).or(BELOW_HALF_BITS).reinterpretAsFloats();
            IntVector r = (IntVector) q.add(half).convert(VectorOperators.F2I, 0);
            ((ByteVector) r.convertShape(VectorOperators.I2B, BS, 0)).intoArray(buf, at + 2 + k);
        }
        return true;
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % QK != 0 || n % QK != 0) throw new IllegalArgumentException("Q8_0 reads whole blocks");
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(F16Codec.I16_LE, at));
            for (int j = 0; j < QK; j++) dst[dstOffset + b * QK + j] = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) * d;
        }
    }

    /** C's roundf: half away from zero (Math.round rounds half up). */
    static int roundf(float v) {
        double r = Math.floor(Math.abs((double) v) + 0.5);
        return (int) (v < 0 ? -r : r);
    }
}
