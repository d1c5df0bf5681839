package io.shardwise.core.runtime;

import io.shardwise.core.tensor.TensorType;

import java.util.Arrays;

/**
 * Runs a session's linear layers ({@link Projection}s): rows cut into pieces across {@link ParallelRows}, each piece
 * with its own prepared activations; dense rows on {@link RowKernels#matvec}, packed 2:4 rows on
 * {@link RowKernels#matvecSparse}, low-rank pairs as two passes. Belongs to one session (one thread at a time).
 */
final class LinearPass {
    private final RowKernels rk;
    private final ParallelRows par;
    /** Per parallel piece: prepared activations. */
    private final Activation[][] acts;
    /** Sees the input of every pass (calibration); null: none. */
    LlamaRuntime.LinearObserver observer;

    LinearPass(RowKernels rk, ParallelRows par) {
        this.rk = rk;
        this.par = par;
        this.acts = new Activation[par.threads()][0];
    }

    /**
     * {@code ys[m][yOffs[m] + t*ldys[m] + r] = (W x + B (A x))[r]} of layer {@code ps[m]} for T tokens x at
     * {@code in[inOff + t*n ...]}: the dense weights and the A factors, which share the input, in one pass over
     * their rows; then each B over its own A x, added (or written, when W is absent).
     */
    void run(float[] in, int inOff, int T, Projection[] ps, float[][] ys, int[] yOffs, int[] ldys) {
        int count = 0;
        for (Projection p : ps) count += (p.dense() != null ? 1 : 0) + (p.lowRank() ? 1 : 0);
        Linear[] ws = new Linear[count];
        Sparse24Rows[] packed = new Sparse24Rows[count];
        float[][] outs = new float[count][];
        int[] offs = new int[count], lds = new int[count];
        float[][] ax = new float[ps.length][];
        int i = 0;
        for (int m = 0; m < ps.length; m++) {
            if (ps[m].dense() == null) continue;
            ws[i] = ps[m].dense();
            packed[i] = ps[m].sparse();
            outs[i] = ys[m];
            offs[i] = yOffs[m];
            lds[i++] = ldys[m];
        }
        for (int m = 0; m < ps.length; m++) {
            if (!ps[m].lowRank()) continue;
            int rank = ps[m].rank();
            ws[i] = ps[m].loraA();
            outs[i] = ax[m] = new float[T * rank];
            lds[i++] = rank;
        }
        rows(in, inOff, T, ws, packed, outs, offs, lds);
        for (int m = 0; m < ps.length; m++) {
            Projection p = ps[m];
            if (!p.lowRank()) continue;
            Linear[] b = {p.loraB()};
            if (p.dense() == null) {
                rows(ax[m], 0, T, b, new Sparse24Rows[1], new float[][]{ys[m]}, new int[]{yOffs[m]}, new int[]{ldys[m]});
                continue;
            }
            int out = p.out();
            float[] bax = new float[T * out];
            rows(ax[m], 0, T, b, new Sparse24Rows[1], new float[][]{bax}, new int[1], new int[]{out});
            for (int t = 0; t < T; t++) {
                int at = yOffs[m] + t * ldys[m];
                for (int r = 0; r < out; r++) ys[m][at + r] += bax[t * out + r];
            }
        }
    }

    /**
     * {@code ys[m][yOffs[m] + t*ldys[m] + r] = dot(row r of ws[m], in[inOff + t*n ...])} for T tokens: the rows of all
     * matrices (which share the input) are cut into pieces across threads; each piece prepares its own copy of the
     * activations for the weight type, so pieces share nothing but the read-only input. A matrix with a packed
     * 2:4 form ({@code packed[m]} not null) runs the sparse kernel on it.
     */
    private void rows(float[] in, int inOff, int T, Linear[] ws, Sparse24Rows[] packed, float[][] ys, int[] yOffs, int[] ldys) {
        int n = ws[0].in(), total = 0;
        if (observer != null) observer.input(ws, in, inOff, T, n);
        for (Linear m : ws) total += m.out();
        int minRows = Math.max(1, LlamaRuntime.MIN_WORK / Math.max(1, n * T));
        int rowsTotal = total;
        par.run(rowsTotal, minRows, 16, (piece, from, to) -> {
            Activation[] a = activations(piece, T);
            TensorType prepared = null;
            for (int m = 0, base = 0; m < ws.length && base < to; base += ws[m].out(), m++) {
                int r0 = Math.max(from, base) - base, r1 = Math.min(to, base + ws[m].out()) - base;
                if (r0 >= r1) continue;
                Linear lin = ws[m];
                Sparse24Rows sp = packed[m];
                if (lin.type() != prepared) {
                    for (int t = 0; t < T; t++) rk.prepare(lin.type(), in, inOff + t * n, n, a[t]);
                    prepared = lin.type();
                }
                if (T == 1) {
                    if (sp != null) rk.matvecSparse(sp, r0, r1, a[0], ys[m], yOffs[m] + r0);
                    else rk.matvec(lin.type(), lin.data(), n, r0, r1, a[0], ys[m], yOffs[m] + r0);
                } else if (yOffs[m] == 0) {
                    if (sp != null) rk.matmulSparse(sp, r0, r1, a, T, ys[m], ldys[m]);
                    else rk.matmul(lin.type(), lin.data(), n, r0, r1, a, T, ys[m], ldys[m]);
                } else {
                    throw new IllegalStateException("batched output must start at offset 0");
                }
            }
        });
    }

    private Activation[] activations(int piece, int T) {
        Activation[] a = acts[piece];
        if (a.length < T) {
            Activation[] grown = Arrays.copyOf(a, T);
            for (int i = a.length; i < T; i++) grown[i] = new Activation();
            acts[piece] = a = grown;
        }
        return a;
    }
}
