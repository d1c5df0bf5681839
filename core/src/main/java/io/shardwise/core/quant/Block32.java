package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The parts ggml's 32-element block codecs (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) share: argument checks, nibble and
 * 5th-bit packing, and the importance weights {@code qw[j] * sqrtf(sigma2 + x[j]^2)} of their quantize_row_*_impl.
 */
final class Block32 {
    static final int QK = 32;
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Block32() {
    }

    /** Refuses a row length that is not a whole number of blocks, or a count that is not a whole number of rows. */
    static void checkRows(GgmlType type, int n, int rowLength) {
        if (rowLength <= 0 || rowLength % QK != 0) {
            throw new IllegalArgumentException(type + " needs rows that are a multiple of " + QK + " values, got row length " + rowLength);
        }
        if (n < 0 || n % rowLength != 0) {
            throw new IllegalArgumentException(type + " quantizes whole rows of " + rowLength + " values, got " + n + " values");
        }
    }

    static void checkImportance(GgmlType type, float[] importance, int rowLength) {
        if (importance.length < rowLength) {
            throw new IllegalArgumentException(type + " importance matrix has " + importance.length + " weights, a row has " + rowLength + " columns");
        }
    }

    static void checkWholeBlocks(GgmlType type, long firstElement, int n) {
        if (firstElement < 0 || firstElement % QK != 0 || n < 0 || n % QK != 0) {
            throw new IllegalArgumentException(type + " reads whole blocks of " + QK + " values, got first element " + firstElement + " and count " + n);
        }
    }

    /**
     * C's float-to-integer cast as ggml's x86-64 build runs it (cvttss2si): truncation, and INT_MIN for NaN and out of
     * range, where Java saturates. It matters when 1/d overflows (d subnormal): x/d is then infinite.
     */
    static int truncToInt(float f) {
        return f > -2147483649f && f < 2147483648f ? (int) f : Integer.MIN_VALUE;
    }

    /** sum(x^2)/n over one row, accumulated in float in index order as ggml does. */
    static float meanSquare(float[] x, int off, int n) {
        float sum = 0;
        for (int j = 0; j < n; j++) sum += x[off + j] * x[off + j];
        return sum / n;
    }

    /** {@code weight[wOff + j] = qw[qwOff + j] * sqrtf(sigma2 + x[j]*x[j])} for one block (sqrt of a float is exact in double). */
    static void importanceWeights(float[] x, int xOff, float[] qw, int qwOff, float sigma2, float[] weight, int wOff) {
        for (int j = 0; j < QK; j++) {
            float v = x[xOff + j];
            weight[wOff + j] = qw[qwOff + j] * (float) Math.sqrt(sigma2 + v * v);
        }
    }

    /** Writes 16 bytes {@code L[j] | L[j+16] << 4} (j from {@code lOff}) at {@code at}: the low 4 bits of each quant. */
    static void writeNibbles(byte[] L, int lOff, MemorySegment dst, long at) {
        long lo = 0, hi = 0;
        for (int j = 0; j < 8; j++) {
            lo |= (long) ((L[lOff + j] & 0x0F) | ((L[lOff + j + 16] & 0x0F) << 4)) << (8 * j);
            hi |= (long) ((L[lOff + j + 8] & 0x0F) | ((L[lOff + j + 24] & 0x0F) << 4)) << (8 * j);
        }
        dst.set(I64_LE, at, lo);
        dst.set(I64_LE, at + 8, hi);
    }

    /** The 5th bits of 32 quants (from {@code lOff}) as ggml's qh: bit j holds bit 4 of quant j. */
    static int highBits(byte[] L, int lOff) {
        int qh = 0;
        for (int j = 0; j < QK; j++) qh |= ((L[lOff + j] >> 4) & 1) << j;
        return qh;
    }
}
