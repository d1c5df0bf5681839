package io.shardwise.core.quant;

/**
 * ggml's scale-and-min searches for the K-quants with an offset (Q2_K, Q4_K, Q5_K), ported from ggml-quants.c
 * {@code make_qkx2_quants}, {@code make_qkx3_quants}, {@code make_qp_quants} and {@code get_scale_min_k4}.
 * Every float operation is float32 in ggml's source order (no fused multiply-add), so results match ggml bit for bit.
 * Quant arrays are {@code byte[]} read back as unsigned, as ggml's {@code uint8_t} arrays are.
 */
public final class KQuantMinSearch {
    /** ggml's GROUP_MAX_EPS: a group whose largest value is below this quantizes to all zeros. */
    static final float GROUP_MAX_EPS = 1e-15f;

    private KQuantMinSearch() {
    }

    /**
     * ggml's {@code make_qkx2_quants}: fits {@code x ~ scale * L + min} with {@code L in [0, nmax]} by trying
     * {@code nstep + 1} inverse scales {@code (rmin + rdelta * is + nmax) / (max - min)} and keeping the one whose
     * weighted least-squares refit has the lowest weighted error (absolute if {@code useMad}, else squared).
     * Writes the quants to {@code L[lOff..lOff+n)}, {@code -min} to {@code theMin[minIndex]}, and returns the scale.
     */
    public static float makeQkx2Quants(int n, int nmax, float[] x, int xOff, float[] weights, int wOff, byte[] L, int lOff,
                                       float[] theMin, int minIndex, byte[] laux, float rmin, float rdelta, int nstep, boolean useMad) {
        return search(n, nmax, x, xOff, weights, wOff, L, lOff, theMin, minIndex, laux, rmin, rdelta, nstep, useMad, false);
    }

    /**
     * ggml's {@code make_qkx3_quants} (the importance-matrix variant of {@link #makeQkx2Quants}): the same search, but a
     * group with {@code max <= min} (not only {@code ==}) is all zeros. ggml's callers always pass weights; so must ours.
     */
    public static float makeQkx3Quants(int n, int nmax, float[] x, int xOff, float[] weights, int wOff, byte[] L, int lOff,
                                       float[] theMin, int minIndex, byte[] laux, float rmin, float rdelta, int nstep, boolean useMad) {
        return search(n, nmax, x, xOff, weights, wOff, L, lOff, theMin, minIndex, laux, rmin, rdelta, nstep, useMad, true);
    }

    private static float search(int n, int nmax, float[] x, int xOff, float[] weights, int wOff, byte[] L, int lOff,
                                float[] theMin, int minIndex, byte[] laux, float rmin, float rdelta, int nstep,
                                boolean useMad, boolean zeroWhenMaxBelowMin) {
        float min = x[xOff];
        float max = x[xOff];
        float sumW = weights[wOff];
        float sumX = sumW * x[xOff];
        for (int i = 1; i < n; ++i) {
            float xi = x[xOff + i];
            if (xi < min) min = xi;
            if (xi > max) max = xi;
            float w = weights[wOff + i];
            sumW += w;
            sumX += w * xi;
        }
        if (min > 0) min = 0;
        if (zeroWhenMaxBelowMin ? max <= min : max == min) {
            for (int i = 0; i < n; ++i) L[lOff + i] = 0;
            theMin[minIndex] = -min;
            return 0.f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; ++i) {
            float xi = x[xOff + i];
            int l = clamp(GgmlRound.nearestInt(iscale * (xi - min)), nmax);
            L[lOff + i] = (byte) l;
            float diff = scale * l + min - xi;
            diff = useMad ? Math.abs(diff) : diff * diff;
            bestError += weights[wOff + i] * diff;
        }
        if (nstep < 1) {
            theMin[minIndex] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; ++is) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; ++i) {
                float xi = x[xOff + i];
                int l = clamp(GgmlRound.nearestInt(iscale * (xi - min)), nmax);
                laux[i] = (byte) l;
                float w = weights[wOff + i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * xi;
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; ++i) {
                    float diff = thisScale * laux[i] + thisMin - x[xOff + i];
                    diff = useMad ? Math.abs(diff) : diff * diff;
                    curError += weights[wOff + i] * diff;
                }
                if (curError < bestError) {
                    System.arraycopy(laux, 0, L, lOff, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[minIndex] = -min;
        return scale;
    }

    /** MAX(0, MIN(nmax, l)). */
    private static int clamp(int l, int nmax) {
        return Math.max(0, Math.min(nmax, l));
    }

    /**
     * ggml's {@code make_qp_quants}: quantizes the non-negative sub-block scales (or mins) {@code x[0..n)} to
     * {@code L in [0, nmax]} with one positive super-block scale, weighted by {@code quantWeights}: a coarse search over
     * nine inverse scales, then up to five rounds of coordinate descent on each quant. Returns the scale.
     */
    public static float makeQpQuants(int n, int nmax, float[] x, byte[] L, float[] quantWeights) {
        float max = 0;
        for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
        if (max < GROUP_MAX_EPS) {
            for (int i = 0; i < n; ++i) L[i] = 0;
            return 0.f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; ++i) L[i] = (byte) GgmlRound.nearestInt(iscale * x[i]);
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; ++i) {
            float diff = x[i] - scale * (L[i] & 0xFF);
            float w = quantWeights[i];
            bestMse += w * diff * diff;
        }
        for (int is = -4; is <= 4; ++is) {
            if (is == 0) continue;
            float iscaleIs = (0.1f * is + nmax) / max;
            float scaleIs = 1 / iscaleIs;
            float mse = 0;
            for (int i = 0; i < n; ++i) {
                int l = Math.min(nmax, GgmlRound.nearestInt(iscaleIs * x[i]));
                float diff = x[i] - scaleIs * l;
                float w = quantWeights[i];
                mse += w * diff * diff;
            }
            if (mse < bestMse) {
                bestMse = mse;
                iscale = iscaleIs;
            }
        }
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = Math.min(nmax, GgmlRound.nearestInt(iscale * x[i]));
            L[i] = (byte) l;
            float w = quantWeights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; ++itry) {
            int nChanged = 0;
            for (int i = 0; i < n; ++i) {
                float w = quantWeights[i];
                int li = L[i] & 0xFF;
                float slx = sumlx - w * x[i] * li;
                float sl2 = suml2 - w * li * li;
                if (slx > 0 && sl2 > 0) {
                    int newL = Math.min(nmax, GgmlRound.nearestInt(x[i] * sl2 / slx));
                    if (newL != li) {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = (byte) newL;
                            sumlx = slx;
                            suml2 = sl2;
                            ++nChanged;
                        }
                    }
                }
            }
            if (nChanged == 0) break;
        }
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }

    /**
     * The K-quants' final pass (quantize_row_q2_K/q4_K/q5_K): each value's quant under the stored sub-block scale
     * {@code d} and min {@code dm}, {@code L[lOff + i] = clamp(nearest_int((x[xOff + i] + dm) / d), 0, nmax)}.
     */
    public static void requantize(float[] x, int xOff, int n, float d, float dm, int nmax, byte[] L, int lOff) {
        for (int i = 0; i < n; ++i) {
            int l = GgmlRound.nearestInt((x[xOff + i] + dm) / d);
            L[lOff + i] = (byte) Math.max(0, Math.min(nmax, l));
        }
    }

    /**
     * ggml's 12-byte scale layout of Q4_K/Q5_K: eight 6-bit scales {@code ls} and mins {@code lm} (each already in
     * [0, 63] or truncated to 8 bits as ggml's uint8_t would be) packed into {@code out[off..off+12)}.
     */
    public static void packScaleMinK4(int[] ls, int[] lm, byte[] out, int off) {
        for (int j = 0; j < 8; ++j) {
            int s = ls[j] & 0xFF, m = lm[j] & 0xFF;
            if (j < 4) {
                out[off + j] = (byte) s;
                out[off + j + 4] = (byte) m;
            } else {
                out[off + j + 4] = (byte) ((s & 0xF) | ((m & 0xF) << 4));
                out[off + j - 4] |= (byte) ((s >> 4) << 6);
                out[off + j] |= (byte) ((m >> 4) << 6);
            }
        }
    }

    /** The 6-bit scale of sub-block {@code j} (0-7) from the 12-byte layout at {@code q[off]} (get_scale_min_k4's d). */
    public static int scaleK4(int j, byte[] q, int off) {
        if (j < 4) return q[off + j] & 63;
        return (q[off + j + 4] & 0xF) | (((q[off + j - 4] & 0xFF) >> 6) << 4);
    }

    /** The 6-bit min of sub-block {@code j} (0-7) from the 12-byte layout at {@code q[off]} (get_scale_min_k4's m). */
    public static int minK4(int j, byte[] q, int off) {
        if (j < 4) return q[off + j + 4] & 63;
        return ((q[off + j + 4] & 0xFF) >> 4) | (((q[off + j] & 0xFF) >> 6) << 4);
    }
}
