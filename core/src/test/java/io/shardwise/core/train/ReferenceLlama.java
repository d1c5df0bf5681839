package io.shardwise.core.train;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;

/** llama2.c's run.c forward pass, position by position with a KV cache, in doubles: the test oracle for DjlLlama. */
final class ReferenceLlama {
    private final LlamaModel m;
    private final LlamaConfig c;

    ReferenceLlama(LlamaModel m) {
        this.m = m;
        this.c = m.config();
    }

    private float[] w(String name) {
        return m.tensor(name).toFloats();
    }

    /** Logits [pos][vocab] for the token sequence. */
    double[][] logits(int[] tokens) {
        int dim = c.dim(), hs = c.headSize(), kvDim = c.kvDim(), hid = c.hiddenDim(), L = c.nLayers(), T = tokens.length;
        double[][][] kc = new double[L][T][kvDim], vc = new double[L][T][kvDim];
        double[][] out = new double[T][];
        float[] emb = w(TensorNames.TOKEN_EMBD);
        for (int pos = 0; pos < T; pos++) {
            double[] x = new double[dim];
            for (int i = 0; i < dim; i++) x[i] = emb[tokens[pos] * dim + i];
            for (int l = 0; l < L; l++) {
                double[] xb = rms(x, w(TensorNames.attnNorm(l)));
                double[] q = mat(w(TensorNames.attnQ(l)), xb, dim, dim);
                double[] k = mat(w(TensorNames.attnK(l)), xb, kvDim, dim);
                double[] v = mat(w(TensorNames.attnV(l)), xb, kvDim, dim);
                for (int i = 0; i < dim; i += 2) {
                    int hd = i % hs;
                    double val = pos * (1.0 / Math.pow(c.ropeTheta(), (double) hd / hs));
                    double fc = Math.cos(val), fi = Math.sin(val);
                    int rotn = i < kvDim ? 2 : 1;
                    for (int vi = 0; vi < rotn; vi++) {
                        double[] vec = vi == 0 ? q : k;
                        double v0 = vec[i], v1 = vec[i + 1];
                        vec[i] = v0 * fc - v1 * fi;
                        vec[i + 1] = v0 * fi + v1 * fc;
                    }
                }
                kc[l][pos] = k;
                vc[l][pos] = v;
                double[] att = new double[dim];
                int kvMul = c.nHeads() / c.nKvHeads();
                for (int h = 0; h < c.nHeads(); h++) {
                    double[] s = new double[pos + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t <= pos; t++) {
                        double d = 0;
                        for (int i = 0; i < hs; i++) d += q[h * hs + i] * kc[l][t][(h / kvMul) * hs + i];
                        s[t] = d / Math.sqrt(hs);
                        max = Math.max(max, s[t]);
                    }
                    double sum = 0;
                    for (int t = 0; t <= pos; t++) sum += (s[t] = Math.exp(s[t] - max));
                    for (int t = 0; t <= pos; t++) for (int i = 0; i < hs; i++) att[h * hs + i] += s[t] / sum * vc[l][t][(h / kvMul) * hs + i];
                }
                double[] o = mat(w(TensorNames.attnOutput(l)), att, dim, dim);
                for (int i = 0; i < dim; i++) x[i] += o[i];
                xb = rms(x, w(TensorNames.ffnNorm(l)));
                double[] h1 = mat(w(TensorNames.ffnGate(l)), xb, hid, dim);
                double[] h3 = mat(w(TensorNames.ffnUp(l)), xb, hid, dim);
                for (int i = 0; i < hid; i++) h1[i] = h1[i] / (1 + Math.exp(-h1[i])) * h3[i];
                double[] d = mat(w(TensorNames.ffnDown(l)), h1, dim, hid);
                for (int i = 0; i < dim; i++) x[i] += d[i];
            }
            x = rms(x, w(TensorNames.OUTPUT_NORM));
            out[pos] = mat(m.classifier().toFloats(), x, c.vocabSize(), dim);
        }
        return out;
    }

    private double[] rms(double[] x, float[] g) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double s = 1.0 / Math.sqrt(ss / x.length + c.normEps());
        double[] o = new double[x.length];
        for (int i = 0; i < x.length; i++) o[i] = x[i] * s * g[i];
        return o;
    }

    /** W [rows][cols] row-major times x. */
    private static double[] mat(float[] w, double[] x, int rows, int cols) {
        double[] o = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int i = 0; i < cols; i++) s += w[r * cols + i] * x[i];
            o[r] = s;
        }
        return o;
    }
}
