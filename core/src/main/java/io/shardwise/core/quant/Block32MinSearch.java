package io.shardwise.core.quant;

/**
 * The per-block search of ggml's quantize_row_q4_1_impl and quantize_row_q5_1_impl (ggml-quants.c): for each 32-block
 * of a row, weights {@code qw[j] * sqrtf(sigma2 + x[j]^2)} and {@code make_qkx3_quants(32, nmax, ..., -0.9f, 0.05f, 36)}.
 * Groups of eight blocks run in {@link KQuantMinLanes} (bit-identical to the scalar search), the rest one by one.
 * One instance is one call's scratch for rows of one length: not thread-safe.
 */
final class Block32MinSearch {
    private static final int QK = Block32.QK;
    private static final int GROUP = 8;
    private final int nmax;
    private final int blocks;
    private final int laneBlocks;
    private final float[] weight;
    private final KQuantMinLanes lanes;
    private final byte[] laux = new byte[QK];
    private final float[] theMin = new float[1];
    /** Quants of the last row searched, 32 per block. */
    final byte[] L;
    /** Scale of each block of the last row searched. */
    final float[] scales;
    /** Negated min of each block of the last row searched (ggml's {@code the_min}). */
    final float[] mins;

    /** @param useLanes false runs every block through the scalar search (the twin the lane search is tested against) */
    Block32MinSearch(int rowLength, int nmax, boolean useLanes) {
        this.nmax = nmax;
        this.blocks = rowLength / QK;
        this.laneBlocks = useLanes ? blocks / GROUP * GROUP : 0;
        this.weight = new float[rowLength];
        this.lanes = laneBlocks > 0 ? new KQuantMinLanes(QK) : null;
        this.L = new byte[rowLength];
        this.scales = new float[blocks];
        this.mins = new float[blocks];
    }

    /** Searches every block of the row {@code x[row..row+rowLength)} with per-column weights {@code importance}. */
    void searchRow(float[] x, int row, float[] importance) {
        float sigma2 = Block32.meanSquare(x, row, blocks * QK);
        for (int ib = 0; ib < blocks; ib++) {
            Block32.importanceWeights(x, row + ib * QK, importance, ib * QK, sigma2, weight, ib * QK);
        }
        if (laneBlocks > 0) {
            lanes.search(laneBlocks, nmax, x, row, weight, 0, L, 0, scales, mins, -0.9f, 0.05f, 36, false, true);
        }
        for (int ib = laneBlocks; ib < blocks; ib++) {
            scales[ib] = KQuantMinSearch.makeQkx3Quants(QK, nmax, x, row + ib * QK, weight, ib * QK, L, ib * QK,
                    theMin, 0, laux, -0.9f, 0.05f, 36, false);
            mins[ib] = theMin[0];
        }
    }
}
