package io.shardwise.core.quant;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * ggml's searches for one signed scale per group with no min (ggml-quants.c {@code make_qx_quants} and
 * {@code make_q3_quants}), used by Q6_K and Q3_K (ggml also calls make_qx_quants for Q4_0/Q5_0 with an importance matrix).
 * Every float operation is float32 in ggml's source order, without fused multiply-add, so scales and quants
 * come out bit-identical to ggml built without FMA.
 * <p>
 * {@link #makeQxQuantsVector} is the Vector API twin of {@link #makeQxQuants} (rmse type 1 with weights): it scores
 * ggml's 19 candidate scales in parallel lanes, each lane summing in ggml's order, then picks in ggml's order.
 */
public final class KQuantScaleSearch {
    /** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zeros. */
    public static final float GROUP_MAX_EPS = 1e-15f;

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = FS.length();
    /** Candidate 0 is ggml's first fit (is = 0), candidates 1..18 are is = -9..-1, 1..9 in ggml's order. */
    private static final int CANDIDATES = 19;
    private static final VectorSpecies<Integer> IS = FS.withLanes(int.class);
    /** Lane groups of candidates, rounded up to pairs. */
    private static final int GROUPS = ((CANDIDATES + LANES - 1) / LANES + 1) & ~1;
    /** 0.1f * is per candidate lane, as ggml computes it; padding lanes repeat candidate 0. */
    private static final float[] STEP = new float[GROUPS * LANES];

    static {
        int k = 1;
        for (int is = -9; is <= 9; is++) {
            if (is != 0) STEP[k++] = 0.1f * is;
        }
    }

    private KQuantScaleSearch() {
    }

    /** nearest_int lane by lane (the float bits of v + 1.5*2^23), clamped to [lo, hi], back as float. */
    private static FloatVector nearestClamped(FloatVector v, FloatVector magic, IntVector lo, IntVector hi) {
        IntVector l = v.add(magic).reinterpretAsInts().and(0x007fffff).sub(0x00400000).min(hi).max(lo);
        return (FloatVector) l.convert(VectorOperators.I2F, 0);
    }

    /** Length of the {@code scratch} array {@link #makeQxQuantsVector} needs. */
    public static int vectorScratchLength() {
        return 2 * GROUPS * LANES;
    }

    /**
     * {@link #makeQxQuants} with rmse type 1 and weights {@code w[wOff..wOff+n)} (ggml's {@code qw}; pass x*x for
     * ggml's NULL weights), bit for bit, scoring all candidate scales at once. {@code scratch} has
     * {@link #vectorScratchLength()} floats.
     */
    public static float makeQxQuantsVector(int n, int nmax, float[] x, int xOff, byte[] L, int lOff,
                                           float[] w, int wOff, float[] scratch) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xOff + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xOff + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[lOff + i] = 0;
            return 0f;
        }
        int stride = GROUPS * LANES;
        FloatVector maxV = FloatVector.broadcast(FS, max);
        FloatVector nmaxV = FloatVector.broadcast(FS, (float) nmax);
        FloatVector magic = FloatVector.broadcast(FS, 12582912.0f);
        IntVector lo = IntVector.broadcast(IS, -nmax);
        IntVector hi = IntVector.broadcast(IS, nmax - 1);
        // two candidate groups per pass share the per-element broadcasts and interleave their dependency chains
        for (int g = 0; g < GROUPS; g += 2) {
            FloatVector iscaleA = nmaxV.add(FloatVector.fromArray(FS, STEP, g * LANES)).neg().div(maxV);
            FloatVector iscaleB = nmaxV.add(FloatVector.fromArray(FS, STEP, (g + 1) * LANES)).neg().div(maxV);
            FloatVector sumlxA = FloatVector.zero(FS), suml2A = FloatVector.zero(FS);
            FloatVector sumlxB = FloatVector.zero(FS), suml2B = FloatVector.zero(FS);
            for (int i = 0; i < n; i++) {
                float xi = x[xOff + i];
                float wi = w[wOff + i];
                FloatVector xv = FloatVector.broadcast(FS, xi);
                FloatVector wv = FloatVector.broadcast(FS, wi);
                FloatVector wxv = FloatVector.broadcast(FS, wi * xi);
                FloatVector lA = nearestClamped(iscaleA.mul(xv), magic, lo, hi);
                FloatVector lB = nearestClamped(iscaleB.mul(xv), magic, lo, hi);
                sumlxA = sumlxA.add(wxv.mul(lA));
                suml2A = suml2A.add(wv.mul(lA).mul(lA));
                sumlxB = sumlxB.add(wxv.mul(lB));
                suml2B = suml2B.add(wv.mul(lB).mul(lB));
            }
            sumlxA.intoArray(scratch, g * LANES);
            suml2A.intoArray(scratch, stride + g * LANES);
            sumlxB.intoArray(scratch, (g + 1) * LANES);
            suml2B.intoArray(scratch, stride + (g + 1) * LANES);
        }
        float sumlx = scratch[0];
        float suml2 = scratch[stride];
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        int chosen = 0;
        for (int k = 1; k < CANDIDATES; k++) {
            float slx = scratch[k];
            float sl2 = scratch[stride + k];
            if (sl2 > 0 && slx * slx > best * sl2) {
                chosen = k;
                scale = slx / sl2;
                best = scale * slx;
            }
        }
        float iscale = chosen == 0 ? (float) -nmax / max : -(nmax + STEP[chosen]) / max;
        for (int i = 0; i < n; i++) {
            int l = GgmlRound.nearestInt(iscale * x[xOff + i]);
            L[lOff + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
        }
        return scale;
    }

    /**
     * ggml's {@code make_qx_quants}: quantizes {@code x[xOff..xOff+n)} to levels {@code L} in {@code [0, 2*nmax)}
     * (stored as level + nmax) and returns the scale d with x ~ d * (L - nmax).
     * <p>
     * {@code rmseType} 0 takes the plain scale -max/nmax; 1..4 weight the least-squares fit by x^2, 1, |x|, sqrt|x|
     * (or by {@code qw} when not null) and try 18 nearby scales; a negative type returns after the first fit with the
     * mean of the fitted and the plain scale.
     *
     * @param qw    weights, or null to derive them from {@code rmseType}; read at {@code qw[qwOff + i]}
     */
    public static float makeQxQuants(int n, int nmax, float[] x, int xOff, byte[] L, int lOff,
                                     int rmseType, float[] qw, int qwOff) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xOff + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xOff + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[lOff + i] = 0;
            return 0f;
        }
        float iscale = (float) -nmax / max;
        if (rmseType == 0) {
            for (int i = 0; i < n; i++) {
                int l = GgmlRound.nearestInt(iscale * x[xOff + i]);
                L[lOff + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
            }
            return 1f / iscale;
        }
        boolean returnEarly = false;
        if (rmseType < 0) {
            rmseType = -rmseType;
            returnEarly = true;
        }
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; i++) {
            float xi = x[xOff + i];
            int l = GgmlRound.nearestInt(iscale * xi);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lOff + i] = (byte) (l + nmax);
            float w = qw != null ? qw[qwOff + i] : weight(rmseType, xi);
            sumlx += w * xi * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        if (returnEarly) return suml2 > 0 ? 0.5f * (scale + 1f / iscale) : 1f / iscale;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                float xi = x[xOff + i];
                int l = GgmlRound.nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = qw != null ? qw[qwOff + i] : weight(rmseType, xi);
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = GgmlRound.nearestInt(iscale * x[xOff + i]);
                    L[lOff + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /** The implicit weight of {@code make_qx_quants} for rmse types 1 (x^2), 2 (1), 3 (|x|) and 4 (sqrt|x|). */
    static float weight(int rmseType, float x) {
        return switch (rmseType) {
            case 1 -> x * x;
            case 2 -> 1f;
            case 3 -> Math.abs(x);
            default -> (float) Math.sqrt(Math.abs(x));
        };
    }

    /**
     * ggml's {@code make_q3_quants}: levels in {@code [0, 2*nmax)} (stored as level + nmax) and the scale for
     * {@code x[xOff..xOff+n)}. With {@code doRmse} it fits the scale weighted by x^2 and then moves single levels
     * while that improves the fit (at most 5 passes); without it the scale is -max/nmax.
     */
    public static float makeQ3Quants(int n, int nmax, float[] x, int xOff, byte[] L, int lOff, boolean doRmse) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xOff + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xOff + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[lOff + i] = 0;
            return 0f;
        }
        float iscale = (float) -nmax / max;
        if (doRmse) {
            float sumlx = 0;
            float suml2 = 0;
            for (int i = 0; i < n; i++) {
                float xi = x[xOff + i];
                int l = GgmlRound.nearestInt(iscale * xi);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                L[lOff + i] = (byte) l;
                float w = xi * xi;
                sumlx += w * xi * l;
                suml2 += w * l * l;
            }
            for (int itry = 0; itry < 5; itry++) {
                int nChanged = 0;
                for (int i = 0; i < n; i++) {
                    float xi = x[xOff + i];
                    int li = L[lOff + i];
                    float w = xi * xi;
                    float slx = sumlx - w * xi * li;
                    if (slx > 0) {
                        float sl2 = suml2 - w * li * li;
                        int newL = GgmlRound.nearestInt(xi * sl2 / slx);
                        newL = Math.max(-nmax, Math.min(nmax - 1, newL));
                        if (newL != li) {
                            slx += w * xi * newL;
                            sl2 += w * newL * newL;
                            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                                L[lOff + i] = (byte) newL;
                                sumlx = slx;
                                suml2 = sl2;
                                nChanged++;
                            }
                        }
                    }
                }
                if (nChanged == 0) break;
            }
            for (int i = 0; i < n; i++) L[lOff + i] += (byte) nmax;
            return suml2 > 0f ? sumlx / suml2 : 0f;
        }
        for (int i = 0; i < n; i++) {
            int l = GgmlRound.nearestInt(iscale * x[xOff + i]);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            L[lOff + i] = (byte) (l + nmax);
        }
        return 1f / iscale;
    }
}
