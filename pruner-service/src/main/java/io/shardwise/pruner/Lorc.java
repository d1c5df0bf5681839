package io.shardwise.pruner;

import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

/**
 * LoRC, low-rank compensation (Yao et al. 2023, "ZeroQuant-V2: Exploring Post-training Quantization in LLMs from
 * Comprehensive Study to Low Rank Compensation", sec. 5): W is quantized, the error E = W - Q(W) = U Sigma V^T is
 * truncated to rank r, and the layer becomes Q(W) + U_r Sigma_r^{1/2} (Sigma_r^{1/2} V_r^T), i.e. B = U_r Sigma_r^{1/2},
 * A = Sigma_r^{1/2} V_r^T on top of the quantized weight (y = Q(W) x + B (A x)).
 */
public final class Lorc {

    /**
     * The quantized weight, the compensation factors and the squared Frobenius errors before (||E||^2) and after
     * (||E - B A||^2, the tail energy of E's spectrum) compensation.
     */
    public record Result(Tensor quantized, LowRankFactors factors, double quantError, double compensatedError) {
    }

    private Lorc() {
    }

    /** W (out x in, row-major) as {@code type} named {@code name} (ggml shape [in, out]) plus its error's factors. */
    public static Result compensate(String name, float[] w, int out, int in, TensorType type, RankSelection rule) {
        if (w.length != out * in) throw new IllegalArgumentException(w.length + " values are not a " + out + " x " + in + " matrix");
        Tensor q = TensorCodecs.quantize(name, new long[]{in, out}, w, type);
        float[] dq = TensorCodecs.dequantize(q);
        double[] e = new double[w.length];
        double quantError = 0;
        for (int i = 0; i < w.length; i++) {
            e[i] = (double) w[i] - dq[i];
            quantError += e[i] * e[i];
        }
        TruncatedSvd.Spectrum s = TruncatedSvd.decompose(e, out, in);
        int rank = Math.min(rule.rank(s.sigma(), in, out), s.k());
        LowRankFactors f = s.truncate(rank);
        return new Result(q, f, quantError, f.tailEnergy());
    }
}
