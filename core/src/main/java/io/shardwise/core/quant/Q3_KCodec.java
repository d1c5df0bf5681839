package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml Q3_K: super-blocks of 256 as 16 sub-blocks of 16 three-bit quants with a signed 6-bit scale each and one fp16
 * super-scale d; value = d * (scale[k] - 32) * (q - 4). Layout: hmask[32] (bit 2 of each quant), qs[64] (low 2 bits),
 * scales[12] (16 x 6 bits), fp16 d. Bit-exact with ggml-quants.c quantize_row_q3_K_ref (plain),
 * quantize_row_q3_K_impl (importance weights) and dequantize_row_q3_K.
 */
public final class Q3_KCodec implements TensorCodec {
    static final int QK = 256;
    static final int BLOCK_BYTES = 110;
    private static final int QS = 32;
    private static final int SCALES = 96;
    private static final int D = 108;

    @Override
    public TensorType type() {
        return GgmlType.Q3_K;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, rowLength, null, dst, dstOffset);
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        Q6_KCodec.checkRows(GgmlType.Q3_K, n, rowLength, importance);
        Scratch s = new Scratch();
        int blocksPerRow = rowLength / QK;
        for (int b = 0; b < n / QK; b++) {
            int xOff = srcOffset + b * QK;
            if (importance == null) {
                chooseScalesRef(src, xOff, s);
            } else {
                chooseScalesImpl(src, xOff, importance, (b % blocksPerRow) * QK, s);
            }
            packBlock(src, xOff, s);
            MemorySegment.copy(s.block, 0, dst, ValueLayout.JAVA_BYTE, dstOffset + (long) b * BLOCK_BYTES, BLOCK_BYTES);
        }
    }

    /** Per-call working memory, so no block allocates. */
    private static final class Scratch {
        final byte[] L = new byte[QK];
        final float[] scales = new float[QK / 16];
        final float[] weight = new float[16];
        final float[] sw = new float[QK / 16];
        final byte[] Ls = new byte[QK / 16];
        final byte[] block = new byte[BLOCK_BYTES];
        final float[] search = new float[KQuantScaleSearch.vectorScratchLength()];
    }

    /** quantize_row_q3_K_ref's scales: make_q3_quants per sub-block, then 6-bit scales relative to the largest. */
    private static void chooseScalesRef(float[] x, int xOff, Scratch s) {
        byte[] y = s.block;
        float maxScale = 0;
        float amax = 0;
        for (int j = 0; j < QK / 16; j++) {
            s.scales[j] = KQuantScaleSearch.makeQ3Quants(16, 4, x, xOff + 16 * j, s.L, 16 * j, true);
            float scale = Math.abs(s.scales[j]);
            if (scale > amax) {
                amax = scale;
                maxScale = s.scales[j];
            }
        }
        clearScales(y);
        float d = 0f;
        if (maxScale != 0f) {
            float iscale = -32f / maxScale;
            for (int j = 0; j < QK / 16; j++) {
                // C stores nearest_int into an int8_t before clamping
                int l = (byte) GgmlRound.nearestInt(iscale * s.scales[j]);
                putScale(y, j, Math.max(-32, Math.min(31, l)) + 32);
            }
            d = 1f / iscale;
        }
        short dHalf = F16Codec.floatToHalf(d);
        y[D] = (byte) dHalf;
        y[D + 1] = (byte) (dHalf >> 8);
    }

    /** quantize_row_q3_K_impl's scales: weighted make_qx_quants per sub-block, then again over the 16 scales. */
    private static void chooseScalesImpl(float[] x, int xOff, float[] qwAll, int qwOff, Scratch s) {
        byte[] y = s.block;
        float sumx2 = 0;
        for (int j = 0; j < QK; j++) sumx2 += x[xOff + j] * x[xOff + j];
        float sigma2 = 2 * sumx2 / QK;
        for (int j = 0; j < QK / 16; j++) {
            for (int l = 0; l < 16; l++) {
                float xv = x[xOff + 16 * j + l];
                s.weight[l] = qwAll[qwOff + 16 * j + l] * (float) Math.sqrt(sigma2 + xv * xv);
            }
            float sumw = 0;
            for (int l = 0; l < 16; l++) sumw += s.weight[l];
            s.sw[j] = sumw;
            s.scales[j] = KQuantScaleSearch.makeQxQuantsVector(16, 4, x, xOff + 16 * j, s.L, 16 * j, s.weight, 0, s.search);
        }
        clearScales(y);
        float dBlock = KQuantScaleSearch.makeQxQuantsVector(QK / 16, 32, s.scales, 0, s.Ls, 0, s.sw, 0, s.search);
        for (int j = 0; j < QK / 16; j++) putScale(y, j, s.Ls[j]);
        short dHalf = F16Codec.floatToHalf(dBlock);
        y[D] = (byte) dHalf;
        y[D + 1] = (byte) (dHalf >> 8);
    }

    private static void clearScales(byte[] y) {
        for (int j = 0; j < 12; j++) y[SCALES + j] = 0;
    }

    /** Packs 6-bit scale {@code l} of sub-block j: low 4 bits in byte j (j < 8) or the high nibble of byte j-8, high 2 bits in byte 8 + j%4. */
    private static void putScale(byte[] y, int j, int l) {
        if (j < 8) {
            y[SCALES + j] = (byte) (l & 0xF);
        } else {
            y[SCALES + j - 8] |= (byte) ((l & 0xF) << 4);
        }
        y[SCALES + 8 + j % 4] |= (byte) ((l >> 4) << (2 * (j / 4)));
    }

    /** The 6-bit scale of sub-block j, minus 32. */
    private static int scale(byte[] y, int j) {
        int lo = j < 8 ? y[SCALES + j] & 0xF : (y[SCALES + j - 8] & 0xFF) >> 4;
        return (lo | (((y[SCALES + 8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
    }

    /** Final quants from the fp16-rounded scales (sub-blocks with scale 0 keep the search's levels), then the bit layout. */
    private static void packBlock(float[] x, int xOff, Scratch s) {
        byte[] y = s.block;
        byte[] L = s.L;
        float dAll = F16Codec.halfToFloat((short) ((y[D] & 0xFF) | (y[D + 1] << 8)));
        for (int j = 0; j < QK / 16; j++) {
            float d = dAll * scale(y, j);
            if (d == 0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = GgmlRound.nearestInt(x[xOff + 16 * j + ii] / d);
                L[16 * j + ii] = (byte) (Math.max(-4, Math.min(3, l)) + 4);
            }
        }
        for (int m = 0; m < QK / 8; m++) y[m] = 0;
        for (int j = 0; j < QK; j++) {
            if (L[j] > 3) {
                y[j % 32] |= (byte) (1 << (j / 32));
                L[j] -= 4;
            }
        }
        for (int j = 0; j < QK; j += 128) {
            for (int l = 0; l < 32; l++) {
                y[QS + j / 4 + l] = (byte) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % QK != 0 || n % QK != 0) throw new IllegalArgumentException("Q3_K reads whole 256-value blocks, got first " + firstElement + ", count " + n);
        long firstBlock = firstElement / QK;
        byte[] x = new byte[BLOCK_BYTES];
        for (int b = 0; b < n / QK; b++) {
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, (firstBlock + b) * BLOCK_BYTES, x, 0, BLOCK_BYTES);
            float dAll = F16Codec.halfToFloat((short) ((x[D] & 0xFF) | (x[D + 1] << 8)));
            int y = dstOffset + b * QK;
            for (int k = 0; k < QK / 16; k++) {
                float dl = dAll * scale(x, k);
                int chunk = k / 8;
                int shift = 2 * ((k % 8) / 2);
                int bit = 1 << (k / 2);
                int lOff = 16 * (k % 2);
                for (int l = 0; l < 16; l++) {
                    int q = (x[QS + chunk * 32 + lOff + l] >> shift) & 3;
                    int h = (x[lOff + l] & bit) != 0 ? 0 : 4;
                    dst[y + 16 * k + l] = dl * (q - h);
                }
            }
        }
    }
}
