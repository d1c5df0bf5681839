package io.shardwise.core.quant;

/**
 * The super-block steps Q4_K and Q5_K share (ggml-quants.c quantize_row_q4_K_ref / _impl, q5_K alike): eight
 * 32-value sub-blocks, each fitted as {@code scale * L + min} (ggml's search, all eight at once in
 * {@link KQuantMinLanes}), then the eight scales and mins quantized to 6 bits under fp16 super-block scales {@code d}
 * and {@code dmin}, then every value requantized with the stored (fp16-rounded) scales. One instance is one call's scratch: not thread-safe, reused block after block.
 * Writes the block head: fp16 d at byte 0, fp16 dmin at 2, the 12 scale bytes at 4; leaves the quants in {@link #L}.
 */
final class ScaleMinK4Block {
    static final int QK_K = SuperBlockRows.QK_K;
    static final int SCALES_OFFSET = 4;

    /** The quant of each of the 256 values, 0..nmax, after {@link #requantize}. */
    final byte[] L = new byte[QK_K];
    private final float[] weights = new float[QK_K];
    private final KQuantMinLanes lanes = new KQuantMinLanes(32);
    private final float[] scales = new float[8];
    private final float[] mins = new float[8];
    private final float[] sw = new float[8];
    private final byte[] qs = new byte[8];
    private final byte[] qm = new byte[8];
    private final int[] ls = new int[8];
    private final int[] lm = new int[8];
    private final int nmax;
    private final float refRmin;
    private final int refSteps;

    /** {@code nmax} 15 (Q4_K) or 31 (Q5_K); the reference search tries {@code refSteps + 1} scales from {@code refRmin}. */
    ScaleMinK4Block(int nmax, float refRmin, int refSteps) {
        this.nmax = nmax;
        this.refRmin = refRmin;
        this.refSteps = refSteps;
    }

    /** quantize_row_q4_K_ref / q5_K_ref: per sub-block weights {@code rms(x) + |x|}, scales relative to the largest. */
    void searchReference(float[] x, int off, byte[] block) {
        for (int j = 0; j < 8; ++j) {
            int o = off + 32 * j;
            float sumX2 = 0;
            for (int l = 0; l < 32; ++l) sumX2 += x[o + l] * x[o + l];
            float avX = (float) Math.sqrt(sumX2 / 32); // sqrtf: the double root rounded to float is the float root
            for (int l = 0; l < 32; ++l) weights[32 * j + l] = avX + Math.abs(x[o + l]);
        }
        lanes.search(8, nmax, x, off, weights, 0, L, 0, scales, mins, refRmin, 0.1f, refSteps, false, false);
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < 8; ++j) {
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        for (int j = 0; j < 8; ++j) {
            // ggml stores nearest_int in a uint8_t before MIN(63, .)
            ls[j] = Math.min(63, GgmlRound.nearestInt(invScale * scales[j]) & 0xFF);
            lm[j] = Math.min(63, GgmlRound.nearestInt(invMin * mins[j]) & 0xFF);
        }
        KQuantMinSearch.packScaleMinK4(ls, lm, block, SCALES_OFFSET);
        putHalf(block, 0, F16Codec.floatToHalf(maxScale / 63.f));
        putHalf(block, 2, F16Codec.floatToHalf(maxMin / 63.f));
    }

    /**
     * quantize_row_q4_K_impl / q5_K_impl with an importance matrix: weights {@code qw * sqrt(sigma2 + x^2)}, scales
     * and mins quantized by make_qp_quants weighted by each sub-block's total weight. Q5_K clamps the 6-bit values to
     * 63 once more ({@code clampTo63}); Q4_K does not.
     */
    void searchImportance(float[] x, int off, float[] qw, int qwOff, byte[] block, boolean clampTo63) {
        float sumX2 = 0;
        for (int l = 0; l < QK_K; ++l) sumX2 += x[off + l] * x[off + l];
        float sigma2 = 2 * sumX2 / QK_K;
        for (int j = 0; j < 8; ++j) {
            int o = off + 32 * j;
            for (int l = 0; l < 32; ++l) {
                weights[32 * j + l] = qw[qwOff + 32 * j + l] * (float) Math.sqrt(sigma2 + x[o + l] * x[o + l]);
            }
            float sumw = 0;
            for (int l = 0; l < 32; ++l) sumw += weights[32 * j + l];
            sw[j] = sumw;
        }
        lanes.search(8, nmax, x, off, weights, 0, L, 0, scales, mins, -0.9f, 0.05f, 36, false, true);
        float dBlock = KQuantMinSearch.makeQpQuants(8, 63, scales, qs, sw);
        float mBlock = KQuantMinSearch.makeQpQuants(8, 63, mins, qm, sw);
        for (int j = 0; j < 8; ++j) {
            ls[j] = clampTo63 ? Math.min(63, qs[j] & 0xFF) : qs[j] & 0xFF;
            lm[j] = clampTo63 ? Math.min(63, qm[j] & 0xFF) : qm[j] & 0xFF;
        }
        KQuantMinSearch.packScaleMinK4(ls, lm, block, SCALES_OFFSET);
        putHalf(block, 0, F16Codec.floatToHalf(dBlock));
        putHalf(block, 2, F16Codec.floatToHalf(mBlock));
    }

    /** Picks each value's final quant with the stored fp16 scales; a sub-block whose scale is 0 keeps its search quants. */
    void requantize(float[] x, int off, byte[] block) {
        float d0 = F16Codec.halfToFloat(getHalf(block, 0));
        float dmin0 = F16Codec.halfToFloat(getHalf(block, 2));
        for (int j = 0; j < 8; ++j) {
            float d = d0 * KQuantMinSearch.scaleK4(j, block, SCALES_OFFSET);
            if (d == 0) continue;
            float dm = dmin0 * KQuantMinSearch.minK4(j, block, SCALES_OFFSET);
            KQuantMinLanes.requantize(x, off + 32 * j, 32, d, dm, nmax, L, 32 * j);
        }
    }

    static void putHalf(byte[] b, int at, short h) {
        b[at] = (byte) h;
        b[at + 1] = (byte) (h >> 8);
    }

    static short getHalf(byte[] b, int at) {
        return (short) ((b[at] & 0xFF) | (b[at + 1] << 8));
    }
}
