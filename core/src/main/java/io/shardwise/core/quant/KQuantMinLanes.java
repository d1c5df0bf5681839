package io.shardwise.core.quant;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API twin of {@link KQuantMinSearch#makeQkx2Quants} and {@link KQuantMinSearch#makeQkx3Quants} (ggml-quants.c):
 * runs ggml's search for several sub-blocks at once, one sub-block per lane. Each lane performs the scalar search's
 * float32 operations in the scalar order (its sums run over the sub-block's values one by one, its best fit updates
 * the min the next steps use), so every lane's scale, min and quants are bit-identical to the scalar search; the
 * speed comes from the lanes' independent sum chains, which a single search cannot overlap.
 * One instance is one call's scratch for sub-blocks of {@code n} values: not thread-safe.
 */
final class KQuantMinLanes {
    private static final float MAGIC = 12582912.0f; // nearest_int's 1.5 * 2^23

    // species must be constants for the JIT to compile vector code; 8 lanes = the 8 sub-blocks of Q4_K/Q5_K
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_256;
    private static final int LANES = 8;
    // lane state, 8 floats each, at these offsets of state[]
    private static final int MIN = 0, MAX = 8, SUM_W = 16, SUM_X = 24, FLAT = 32, FLAT_MIN = 40, SCALE = 48, BEST = 56,
            SUM_L = 64, SUM_L2 = 72, SUM_XL = 80, THIS_SCALE = 88, THIS_MIN = 96, FIT = 104, BETTER = 112, STATE = 120;
    private final int n;
    private final float[] xT;
    private final float[] wT;
    private final float[] lT;
    private final float[] auxT;
    private final float[] scaleOut;
    private final float[] minOut;
    private final float[] state = new float[STATE];

    /** Scratch for searches over sub-blocks of {@code n} values, eight at a time. */
    KQuantMinLanes(int n) {
        this.n = n;
        this.xT = new float[n * LANES];
        this.wT = new float[n * LANES];
        this.lT = new float[n * LANES];
        this.auxT = new float[n * LANES];
        this.scaleOut = new float[LANES];
        this.minOut = new float[LANES];
    }

    /**
     * make_qkx2_quants ({@code maxBelowMinIsFlat} false) or make_qkx3_quants (true) for each of {@code subBlocks}
     * consecutive sub-blocks: sub-block j is {@code x[xOff + j*n ..]} with weights {@code w[wOff + j*n ..]}; writes its
     * quants to {@code L[lOff + j*n ..]}, its scale to {@code scales[j]} and its negated min to {@code mins[j]}.
     */
    void search(int subBlocks, int nmax, float[] x, int xOff, float[] w, int wOff, byte[] L, int lOff,
                float[] scales, float[] mins, float rmin, float rdelta, int nstep, boolean useMad, boolean maxBelowMinIsFlat) {
        if (subBlocks % LANES != 0) throw new IllegalArgumentException(subBlocks + " sub-blocks are not a multiple of " + LANES);
        for (int j0 = 0; j0 < subBlocks; j0 += LANES) {
            for (int k = 0; k < LANES; k++) {
                int xs = xOff + (j0 + k) * n, ws = wOff + (j0 + k) * n;
                for (int i = 0; i < n; i++) {
                    xT[i * LANES + k] = x[xs + i];
                    wT[i * LANES + k] = w[ws + i];
                }
            }
            searchLanes(nmax, rmin, rdelta, nstep, useMad, maxBelowMinIsFlat);
            for (int k = 0; k < LANES; k++) {
                int ls = lOff + (j0 + k) * n;
                for (int i = 0; i < n; i++) L[ls + i] = (byte) lT[i * LANES + k];
                scales[j0 + k] = scaleOut[k];
                mins[j0 + k] = minOut[k];
            }
        }
    }

    /**
     * Vector twin of {@link KQuantMinSearch#requantize}: {@code L[lOff + i] = clamp(nearest_int((x[xOff + i] + dm) / d), 0, nmax)}
     * for {@code i < n} ({@code n} a multiple of 8), lane by lane the same float32 operations.
     */
    static void requantize(float[] x, int xOff, int n, float d, float dm, int nmax, byte[] L, int lOff) {
        FloatVector dv = FloatVector.broadcast(FS, d), dmv = FloatVector.broadcast(FS, dm);
        IntVector hi = IntVector.broadcast(IS, nmax);
        for (int i = 0; i < n; i += LANES) {
            IntVector l = FloatVector.fromArray(FS, x, xOff + i).add(dmv).div(dv)
                    .add(MAGIC).reinterpretAsInts().and(0x007fffff).sub(0x00400000).min(hi).max(0);
            l.convertShape(VectorOperators.I2B, ByteVector.SPECIES_64, 0).reinterpretAsBytes().intoArray(L, lOff + i);
        }
    }

    /** nearest_int lane by lane, clamped to [0, nmax], back as float. */
    private static FloatVector quant(FloatVector v, IntVector hi) {
        IntVector l = v.add(MAGIC).reinterpretAsInts().and(0x007fffff).sub(0x00400000).min(hi).max(0);
        return (FloatVector) l.convert(VectorOperators.I2F, 0);
    }

    // The search is split in small methods that pass lane state through arrays: one big method exceeds C2's inlining
    // budget, and vector operations that are not inlined box every intermediate vector.

    private void searchLanes(int nmax, float rmin, float rdelta, int nstep, boolean useMad, boolean maxBelowMinIsFlat) {
        boolean anyFlat = prefix(maxBelowMinIsFlat);
        firstFit(nmax, useMad);
        for (int step = 0; nstep >= 1 && step <= nstep; ++step) {
            stepSums(nmax, rmin + rdelta * step + nmax);
            if (stepFit() && stepError(useMad)) takeBetter();
        }
        finish(anyFlat);
    }

    /** Per lane: min (clamped to at most 0), max, sum of weights, weighted sum of x; flags flat sub-blocks. */
    private boolean prefix(boolean maxBelowMinIsFlat) {
        FloatVector x0 = FloatVector.fromArray(FS, xT, 0);
        FloatVector min = x0, max = x0;
        FloatVector sumW = FloatVector.fromArray(FS, wT, 0);
        FloatVector sumX = sumW.mul(x0);
        for (int i = 1; i < n; ++i) {
            FloatVector xi = FloatVector.fromArray(FS, xT, i * LANES);
            FloatVector wi = FloatVector.fromArray(FS, wT, i * LANES);
            min = min.blend(xi, xi.lt(min));
            max = max.blend(xi, xi.compare(VectorOperators.GT, max));
            sumW = sumW.add(wi);
            sumX = sumX.add(wi.mul(xi));
        }
        min = min.blend(0f, min.compare(VectorOperators.GT, 0f));
        VectorMask<Float> flat = maxBelowMinIsFlat ? max.compare(VectorOperators.LE, min) : max.compare(VectorOperators.EQ, min);
        min.intoArray(state, MIN);
        min.intoArray(state, FLAT_MIN);
        max.intoArray(state, MAX);
        sumW.intoArray(state, SUM_W);
        sumX.intoArray(state, SUM_X);
        FloatVector.zero(FS).blend(1f, flat).intoArray(state, FLAT);
        return flat.anyTrue();
    }

    /** ggml's first fit with iscale = nmax / (max - min): the quants and error every step must beat. */
    private void firstFit(int nmax, boolean useMad) {
        FloatVector min = FloatVector.fromArray(FS, state, MIN);
        FloatVector iscale = FloatVector.broadcast(FS, (float) nmax).div(FloatVector.fromArray(FS, state, MAX).sub(min));
        FloatVector scale = FloatVector.broadcast(FS, 1f).div(iscale);
        IntVector hi = IntVector.broadcast(IS, nmax);
        FloatVector error = FloatVector.zero(FS);
        for (int i = 0; i < n; ++i) {
            FloatVector xi = FloatVector.fromArray(FS, xT, i * LANES);
            FloatVector l = quant(iscale.mul(xi.sub(min)), hi);
            l.intoArray(lT, i * LANES);
            FloatVector d = scale.mul(l).add(min).sub(xi);
            d = useMad ? d.abs() : d.mul(d);
            error = error.add(FloatVector.fromArray(FS, wT, i * LANES).mul(d));
        }
        scale.intoArray(state, SCALE);
        error.intoArray(state, BEST);
    }

    /** One step's quants (into auxT) and weighted sums of l, l*l and l*x, with iscale = numerator / (max - min). */
    private void stepSums(int nmax, float numerator) {
        FloatVector min = FloatVector.fromArray(FS, state, MIN);
        FloatVector iscale = FloatVector.broadcast(FS, numerator).div(FloatVector.fromArray(FS, state, MAX).sub(min));
        IntVector hi = IntVector.broadcast(IS, nmax);
        FloatVector sumL = FloatVector.zero(FS), sumL2 = sumL, sumXL = sumL;
        for (int i = 0; i < n; ++i) {
            FloatVector xi = FloatVector.fromArray(FS, xT, i * LANES);
            FloatVector l = quant(iscale.mul(xi.sub(min)), hi);
            l.intoArray(auxT, i * LANES);
            FloatVector wl = FloatVector.fromArray(FS, wT, i * LANES).mul(l);
            sumL = sumL.add(wl);
            sumL2 = sumL2.add(wl.mul(l));
            sumXL = sumXL.add(wl.mul(xi));
        }
        sumL.intoArray(state, SUM_L);
        sumL2.intoArray(state, SUM_L2);
        sumXL.intoArray(state, SUM_XL);
    }

    /** The step's least-squares scale and min (min at most 0) where D > 0; false when no lane has a fit. */
    private boolean stepFit() {
        FloatVector sumW = FloatVector.fromArray(FS, state, SUM_W), sumX = FloatVector.fromArray(FS, state, SUM_X);
        FloatVector sumL = FloatVector.fromArray(FS, state, SUM_L), sumL2 = FloatVector.fromArray(FS, state, SUM_L2);
        FloatVector sumXL = FloatVector.fromArray(FS, state, SUM_XL);
        FloatVector d = sumW.mul(sumL2).sub(sumL.mul(sumL));
        VectorMask<Float> fit = d.compare(VectorOperators.GT, 0f).andNot(FloatVector.fromArray(FS, state, FLAT).compare(VectorOperators.NE, 0f));
        FloatVector thisScale = sumW.mul(sumXL).sub(sumX.mul(sumL)).div(d);
        FloatVector thisMin = sumL2.mul(sumX).sub(sumL.mul(sumXL)).div(d);
        VectorMask<Float> positiveMin = thisMin.compare(VectorOperators.GT, 0f);
        thisMin.blend(0f, positiveMin).intoArray(state, THIS_MIN);
        thisScale.blend(sumXL.div(sumL2), positiveMin).intoArray(state, THIS_SCALE);
        FloatVector.zero(FS).blend(1f, fit).intoArray(state, FIT);
        return fit.anyTrue();
    }

    /** The step's weighted error; marks (in BETTER) the fitted lanes where it beats the best so far. */
    private boolean stepError(boolean useMad) {
        FloatVector thisScale = FloatVector.fromArray(FS, state, THIS_SCALE), thisMin = FloatVector.fromArray(FS, state, THIS_MIN);
        FloatVector error = FloatVector.zero(FS);
        for (int i = 0; i < n; ++i) {
            FloatVector xi = FloatVector.fromArray(FS, xT, i * LANES);
            FloatVector d = thisScale.mul(FloatVector.fromArray(FS, auxT, i * LANES)).add(thisMin).sub(xi);
            d = useMad ? d.abs() : d.mul(d);
            error = error.add(FloatVector.fromArray(FS, wT, i * LANES).mul(d));
        }
        FloatVector best = FloatVector.fromArray(FS, state, BEST);
        VectorMask<Float> better = FloatVector.fromArray(FS, state, FIT).compare(VectorOperators.NE, 0f).and(error.lt(best));
        best.blend(error, better).intoArray(state, BEST);
        FloatVector.zero(FS).blend(1f, better).intoArray(state, BETTER);
        return better.anyTrue();
    }

    /** Lanes marked BETTER take the step's quants, scale and min. */
    private void takeBetter() {
        VectorMask<Float> better = FloatVector.fromArray(FS, state, BETTER).compare(VectorOperators.NE, 0f);
        for (int i = 0; i < n; ++i) {
            FloatVector.fromArray(FS, lT, i * LANES).blend(FloatVector.fromArray(FS, auxT, i * LANES), better).intoArray(lT, i * LANES);
        }
        FloatVector.fromArray(FS, state, SCALE).blend(FloatVector.fromArray(FS, state, THIS_SCALE), better).intoArray(state, SCALE);
        FloatVector.fromArray(FS, state, MIN).blend(FloatVector.fromArray(FS, state, THIS_MIN), better).intoArray(state, MIN);
    }

    /** Scale and negated min out; flat sub-blocks get quants 0, scale 0 and their clamped min. */
    private void finish(boolean anyFlat) {
        VectorMask<Float> flat = FloatVector.fromArray(FS, state, FLAT).compare(VectorOperators.NE, 0f);
        FloatVector.fromArray(FS, state, SCALE).blend(0f, flat).intoArray(scaleOut, 0);
        FloatVector.fromArray(FS, state, MIN).blend(FloatVector.fromArray(FS, state, FLAT_MIN), flat).neg().intoArray(minOut, 0);
        if (anyFlat) {
            for (int i = 0; i < n; ++i) FloatVector.fromArray(FS, lT, i * LANES).blend(0f, flat).intoArray(lT, i * LANES);
        }
    }
}
