package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;

/**
 * A textbook Llama forward pass in double precision, recomputing the whole prefix for every
 * position from the row-major weights; the independent reference for {@link LlamaRuntime}.
 */
final class ReferenceForward {
    private final LlamaModel m;
    private final LlamaConfig c;

    ReferenceForward(LlamaModel m) {
        this.m = m;
        this.c = m.config();
    }

    /** Logits after each token of the sequence: [T][vocab]. */
    double[][] logits(int[] tokens) {
        int T = tokens.length, dim = c.dim(), hs = c.headSize(), kvDim = c.kvDim();
        double[][] x = new double[T][];
        float[] emb = m.tensor(TensorNames.TOKEN_EMBD).toFloats();
        for (int t = 0; t < T; t++) {
            x[t] = new double[dim];
            for (int i = 0; i < dim; i++) x[t][i] = emb[tokens[t] * dim + i];
        }
        for (int l = 0; l < c.nLayers(); l++) {
            double[][] q = new double[T][], k = new double[T][], v = new double[T][];
            for (int t = 0; t < T; t++) {
                double[] xn = norm(x[t], TensorNames.attnNorm(l));
                q[t] = rope(biased(TensorNames.attnQ(l), mul(TensorNames.attnQ(l), xn)), t);
                k[t] = rope(biased(TensorNames.attnK(l), mul(TensorNames.attnK(l), xn)), t);
                v[t] = biased(TensorNames.attnV(l), mul(TensorNames.attnV(l), xn));
            }
            for (int t = 0; t < T; t++) {
                double[] att = new double[c.qDim()];
                for (int h = 0; h < c.nHeads(); h++) {
                    int kvh = h / (c.nHeads() / c.nKvHeads());
                    double[] p = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int s = 0; s <= t; s++) {
                        for (int d = 0; d < hs; d++) p[s] += q[t][h * hs + d] * k[s][kvh * hs + d];
                        p[s] /= Math.sqrt(hs);
                        max = Math.max(max, p[s]);
                    }
                    for (int s = 0; s <= t; s++) sum += p[s] = Math.exp(p[s] - max);
                    for (int s = 0; s <= t; s++) for (int d = 0; d < hs; d++) att[h * hs + d] += p[s] / sum * v[s][kvh * hs + d];
                }
                add(x[t], mul(TensorNames.attnOutput(l), att));
            }
            for (int t = 0; t < T; t++) {
                double[] xn = norm(x[t], TensorNames.ffnNorm(l));
                double[] g = mul(TensorNames.ffnGate(l), xn), u = mul(TensorNames.ffnUp(l), xn);
                for (int i = 0; i < g.length; i++) g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                add(x[t], mul(TensorNames.ffnDown(l), g));
            }
        }
        double[][] out = new double[T][];
        String cls = m.tensors().containsKey(TensorNames.OUTPUT) ? TensorNames.OUTPUT : TensorNames.TOKEN_EMBD;
        for (int t = 0; t < T; t++) out[t] = mul(cls, norm(x[t], TensorNames.OUTPUT_NORM));
        return out;
    }

    private double[] mul(String name, double[] in) {
        float[] w = m.tensor(name).toFloats();
        int n = in.length, rows = w.length / n;
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) for (int i = 0; i < n; i++) out[r] += w[r * n + i] * in[i];
        return out;
    }

    private double[] norm(double[] x, String weight) {
        float[] w = m.tensor(weight).toFloats();
        double ss = 0;
        for (double v : x) ss += v * v;
        double inv = 1 / Math.sqrt(ss / x.length + c.normEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = w[i] * x[i] * inv;
        return out;
    }

    /** Adds {@code blk.N.x.bias} when the model has it. */
    private double[] biased(String weight, double[] y) {
        var b = m.tensors().get(weight.replace(".weight", ".bias"));
        if (b != null) add(y, toDouble(b.toFloats()));
        return y;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** Rotates pairs (2j, 2j+1), or (j, j + hs/2) with NEOX, of each head by pos * the config's (scaled) frequency j. */
    private double[] rope(double[] v, int pos) {
        int hs = c.headSize(), half = hs / 2;
        for (int h = 0; h < v.length; h += hs) {
            for (int j = 0; j < half; j++) {
                double angle = pos * c.ropeScaling().frequency(j, hs, c.ropeTheta());
                int i0 = c.ropeNeox() ? h + j : h + 2 * j, i1 = c.ropeNeox() ? i0 + half : i0 + 1;
                double v0 = v[i0], v1 = v[i1];
                v[i0] = v0 * Math.cos(angle) - v1 * Math.sin(angle);
                v[i1] = v0 * Math.sin(angle) + v1 * Math.cos(angle);
            }
        }
        return v;
    }

    private static void add(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) x[i] += y[i];
    }
}
