package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * ggml IQ4_NL: blocks of 32 as fp16 scale d and 16 bytes of nibbles indexing the non-linear table
 * {@link #VALUES} (value = d * VALUES[q]; j in the low nibble of byte j, j+16 in its high nibble). The scale is the
 * weighted least-squares fit over 2*ntry+1 candidate inverse scales (ggml-quants.c quantize_row_iq4_nl_impl with
 * super_block_size = block_size = 32; quantize_iq4_nl uses ntry 7, quantize_row_iq4_nl_ref ntry -1; dequantize_row_iq4_nl).
 */
public final class IQ4_NLCodec implements TensorCodec {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;
    /** ggml-common.h kvalues_iq4nl. */
    static final byte[] VALUES = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    private static final float GROUP_MAX_EPS = 1e-15f;
    /** The candidate count of ggml's quantize_iq4_nl (ggml_quantize_chunk's path). */
    private static final int NTRY_CHUNK = 7;
    /** ggml's from_float_ref: no search, and the quants of the first fit are kept. */
    private static final int NTRY_REF = -1;

    @Override
    public TensorType type() {
        return GgmlType.IQ4_NL;
    }

    /** What {@code ggml_quantize_chunk(IQ4_NL, ..., imatrix = NULL)} writes: quantize_iq4_nl with ntry 7. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        Block32.checkRows(GgmlType.IQ4_NL, n, rowLength);
        quantizeBlocks(src, srcOffset, n, rowLength, null, NTRY_CHUNK, dst, dstOffset);
    }

    /** {@code ggml_quantize_chunk(IQ4_NL, ..., imatrix)}: the fit weighted by {@code qw[j] * sqrt(sigma2 + x[j]^2)}. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        Block32.checkRows(GgmlType.IQ4_NL, n, rowLength);
        if (importance != null) Block32.checkImportance(GgmlType.IQ4_NL, importance, rowLength);
        quantizeBlocks(src, srcOffset, n, rowLength, importance, NTRY_CHUNK, dst, dstOffset);
    }

    /**
     * ggml's {@code from_float_ref} for IQ4_NL (quantize_row_iq4_nl_ref, ntry -1) over {@code n} values. A block whose
     * largest magnitude is below 1e-15 gets d = 0 and, as in ggml, the nibbles of the previous block of this call
     * (ggml leaves its scratch untouched there; the first block of a call gets 8s, as ntry 7 would write).
     */
    public void quantizeRef(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        if (n < 0 || n % QK != 0) throw new IllegalArgumentException("IQ4_NL needs a multiple of " + QK + " values, got " + n);
        quantizeBlocks(src, srcOffset, n, QK, null, NTRY_REF, dst, dstOffset);
    }

    private static void quantizeBlocks(float[] src, int srcOffset, int n, int rowLength, float[] importance, int ntry,
                                       MemorySegment dst, long dstOffset) {
        float[] weight = new float[QK];
        byte[] L = new byte[QK];
        Arrays.fill(L, (byte) 8);
        int blocksPerRow = rowLength / QK;
        for (int b = 0; b < n / QK; b++) {
            int xb = srcOffset + b * QK;
            float d = quantizeBlock(src, xb, importance, (b % blocksPerRow) * QK, ntry, weight, L);
            long at = dstOffset + (long) b * BLOCK_BYTES;
            dst.set(Block32.I16_LE, at, F16Codec.floatToHalf(d));
            Block32.writeNibbles(L, 0, dst, at + 2);
        }
    }

    /** quantize_row_iq4_nl_impl for one 32-value block: fills {@code L} (unless the block is ~0 and ntry < 0), returns d. */
    private static float quantizeBlock(float[] x, int xOff, float[] qw, int qwOff, int ntry, float[] weight, byte[] L) {
        float sigma2 = 0;
        for (int j = 0; j < QK; j++) sigma2 += x[xOff + j] * x[xOff + j];
        sigma2 *= 2f / QK;
        if (qw != null) {
            for (int j = 0; j < QK; j++) {
                float v = x[xOff + j];
                weight[j] = qw[qwOff + j] * (float) Math.sqrt(sigma2 + v * v);
            }
        } else {
            for (int j = 0; j < QK; j++) weight[j] = x[xOff + j] * x[xOff + j];
        }
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++) {
            float ax = Math.abs(x[xOff + j]);
            if (ax > amax) {
                amax = ax;
                max = x[xOff + j];
            }
        }
        float d;
        if (amax < GROUP_MAX_EPS) {
            d = 0;
        } else {
            d = ntry > 0 ? -max / VALUES[0] : max / VALUES[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < QK; j++) {
                float xj = x[xOff + j];
                int l = bestIndex(id * xj);
                L[j] = (byte) l;
                float q = VALUES[l];
                float w = weight[j];
                sumqx += w * q * xj;
                sumq2 += w * q * q;
            }
            d = sumq2 > 0 ? sumqx / sumq2 : 0f;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; itry++) {
                id = (itry + VALUES[0]) / max;
                sumqx = 0;
                sumq2 = 0;
                for (int j = 0; j < QK; j++) {
                    float xj = x[xOff + j];
                    float q = VALUES[bestIndex(id * xj)];
                    float w = weight[j];
                    sumqx += w * q * xj;
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
        }
        if (ntry > 0) {
            float id = d != 0 ? 1 / d : 0;
            for (int j = 0; j < QK; j++) L[j] = (byte) bestIndex(id * x[xOff + j]);
        }
        return d;
    }

    /** ggml's best_index_int8 over {@link #VALUES}: the index of the nearest table value (the upper one on a tie). */
    static int bestIndex(float x) {
        if (x <= VALUES[0]) return 0;
        if (x >= VALUES[15]) return 15;
        int ml = 0, mu = 15;
        while (mu - ml > 1) { // a branchless count of VALUES <= x measured slower than this search here
            int mav = (ml + mu) / 2;
            if (x < VALUES[mav]) mu = mav;
            else ml = mav;
        }
        return x - VALUES[mu - 1] < VALUES[mu] - x ? mu - 1 : mu;
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        Block32.checkWholeBlocks(GgmlType.IQ4_NL, firstElement, n);
        long firstBlock = firstElement / QK;
        for (int b = 0; b < n / QK; b++) {
            long at = (firstBlock + b) * BLOCK_BYTES;
            float d = F16Codec.halfToFloat(src.get(Block32.I16_LE, at));
            int o = dstOffset + b * QK;
            for (int j = 0; j < QK / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, at + 2 + j) & 0xFF;
                dst[o + j] = d * VALUES[q & 0x0F];
                dst[o + j + QK / 2] = d * VALUES[q >>> 4];
            }
        }
    }
}
