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
import java.nio.ByteOrder;

/**
 * ggml Q4_0: blocks of 32 as fp16 scale d = max/-8 (max = the signed value of largest magnitude)
 * and 16 bytes of nibbles q = min(15, (int)(x/d + 8.5)); value j in the low nibble of byte j,
 * value j+16 in its high nibble (ggml-quants.c quantize_row_q4_0_ref; with an importance matrix
 * quantize_row_q4_0_impl; dequantize_row_q4_0).
 */
public final class Q4_0Codec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = FS.length();
    /** The vector path packs one lane group of low and high nibbles into LANES bytes: 8 or 16 lanes. */
    static final boolean VECTOR_OK = LANES == 8 || LANES == 16;
    /** Near and below this max |x|, d = max/-8 is subnormal and 1/d overflows (from about 2^-125). */
    private static final float OVERFLOWING_AMAX = 0x1p-120f;
    private static final VectorSpecies<Byte> BS = VECTOR_OK ? VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * LANES)) : null;

    @Override
    public TensorType type() {
        return GgmlType.Q4_0;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        Block32.checkRows(GgmlType.Q4_0, n, rowLength);
        // the Vector API stores bytes into native segments and byte[]-backed heap segments only
        if (VECTOR_OK && (dst.isNative() || dst.heapBase().orElse(null) instanceof byte[])) quantizeVector(src, srcOffset, n, dst, dstOffset);
        else quantizeScalar(src, srcOffset, n, dst, dstOffset);
    }

    /** quantize_row_q4_0_ref block by block: the scalar twin of {@link #quantizeVector}. */
    static void quantizeScalar(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / QK; b++) quantizeBlockScalar(src, srcOffset + b * QK, dst, dstOffset + (long) b * BLOCK_BYTES);
    }

    private static void quantizeBlockScalar(float[] src, int base, MemorySegment dst, long at) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++) {
            float v = src[base + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
        long lo = 0, hi = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = Math.min(15, (byte) Block32.truncToInt(src[base + j] * id + 8.5f));
            int q1 = Math.min(15, (byte) Block32.truncToInt(src[base + QK / 2 + j] * id + 8.5f));
            long packed = (q0 | (q1 << 4)) & 0xFF;
            if (j < 8) lo |= packed << (8 * j);
            else hi |= packed << (8 * (j - 8));
        }
        dst.set(Block32.I64_LE, at + 2, lo);
        dst.set(Block32.I64_LE, at + 10, hi);
    }

    /**
     * quantize_row_q4_0_ref with the Vector API: max |x| by lanes, and x/d + 8.5 truncated, clamped and packed by lanes.
     * Same bytes as the scalar twin: max of floats and the per-value ops are exact lane by lane. A block with a NaN
     * (which the scalar loop skips over while the lane max propagates it), or so small that 1/d overflows (where x86's
     * cast of an infinite x/d gives 0 and the lane conversion saturates), goes to the scalar code.
     */
    static void quantizeVector(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        for (int b = 0; b < n / QK; b++) {
            int base = srcOffset + b * QK;
            long at = dstOffset + (long) b * BLOCK_BYTES;
            FloatVector amaxV = FloatVector.fromArray(FS, src, base).abs();
            for (int k = LANES; k < QK; k += LANES) amaxV = amaxV.max(FloatVector.fromArray(FS, src, base + k).abs());
            float amax = amaxV.reduceLanes(VectorOperators.MAX);
            if (Float.isNaN(amax) || (amax != 0 && amax < OVERFLOWING_AMAX)) {
                quantizeBlockScalar(src, base, dst, at);
                continue;
            }
            float max = 0; // ggml keeps 0.0f (not -0.0f) when every |x| is 0
            if (amax != 0) {
                for (int k = 0; ; k += LANES) { // the first value of largest magnitude, as the scalar strict < keeps
                    FloatVector v = FloatVector.fromArray(FS, src, base + k);
                    int first = v.abs().eq(amax).firstTrue();
                    if (first < LANES) {
                        max = v.lane(first);
                        break;
                    }
                }
            }
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
            for (int k = 0; k < QK / 2; k += LANES) {
                // (x/d + 8.5) lies in [0.5, 16.5] (or is NaN for an infinite x: 0 in Java and on x86), so no byte wrap
                IntVector q0 = (IntVector) FloatVector.fromArray(FS, src, base + k).mul(id).add(8.5f)
                        .convert(VectorOperators.F2I, 0);
                IntVector q1 = (IntVector) FloatVector.fromArray(FS, src, base + QK / 2 + k).mul(id).add(8.5f)
                        .convert(VectorOperators.F2I, 0);
                IntVector packed = q0.min(15).or(q1.min(15).lanewise(VectorOperators.LSHL, 4));
                ((ByteVector) packed.convertShape(VectorOperators.I2B, BS, 0)).intoMemorySegment(dst, at + 2 + k, ByteOrder.LITTLE_ENDIAN);
            }
        }
    }

    /** ggml's quantize_q4_0 with an importance matrix (quantize_row_q4_0_impl): per block, the weighted make_qx_quants search. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        if (importance == null) {
            quantize(src, srcOffset, n, rowLength, dst, dstOffset);
            return;
        }
        Block32.checkRows(GgmlType.Q4_0, n, rowLength);
        Block32.checkImportance(GgmlType.Q4_0, importance, rowLength);
        float[] weight = new float[QK];
        byte[] L = new byte[QK];
        float[] scratch = new float[KQuantScaleSearch.vectorScratchLength()];
        int blocksPerRow = rowLength / QK;
        for (int r = 0; r < n / rowLength; r++) {
            int row = srcOffset + r * rowLength;
            float sigma2 = Block32.meanSquare(src, row, rowLength);
            for (int ib = 0; ib < blocksPerRow; ib++) {
                int xb = row + ib * QK;
                Block32.importanceWeights(src, xb, importance, ib * QK, sigma2, weight, 0);
                float d = KQuantScaleSearch.makeQxQuantsVector(QK, 8, src, xb, L, 0, weight, 0, scratch);
                long at = dstOffset + ((long) r * blocksPerRow + ib) * BLOCK_BYTES;
                dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
                Block32.writeNibbles(L, 0, dst, at + 2);
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        Block32.checkWholeBlocks(GgmlType.Q4_0, firstElement, n);
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(F16Codec.I16_LE, at));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) & 0xFF;
                dst[o + j] = ((q & 0x0F) - 8) * d;
                dst[o + j + QK / 2] = ((q >>> 4) - 8) * d;
            }
        }
    }
}
