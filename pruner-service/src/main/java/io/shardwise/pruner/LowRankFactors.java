package io.shardwise.pruner;

/**
 * A factorized linear layer W (out x in) ~ B A: {@code a} is rank x in (row-major, the tensor
 * {@code <base>.weight.lora_a} of ggml shape [in, rank]) and {@code b} is out x rank ({@code <base>.weight.lora_b},
 * ggml shape [rank, out]), so y = B (A x). {@code sigma}: the full spectrum of the matrix that was truncated,
 * descending (W's for SVD, W S's for ASVD, the quantization error's for LoRC).
 */
public record LowRankFactors(int out, int in, int rank, float[] a, float[] b, double[] sigma) {
    public LowRankFactors {
        if (rank < 1 || rank > Math.min(in, out)) throw new IllegalArgumentException("rank " + rank + " is outside [1, min(" + out + ", " + in + ")]");
        if (a.length != rank * in) throw new IllegalArgumentException("A holds " + a.length + " values, not " + rank + " x " + in);
        if (b.length != out * rank) throw new IllegalArgumentException("B holds " + b.length + " values, not " + out + " x " + rank);
    }

    /** Parameters of the two factors: rank * (in + out). */
    public long parameters() {
        return (long) rank * (in + out);
    }

    /** B A as a dense out x in row-major matrix. */
    public float[] product() {
        float[] w = new float[out * in];
        double[] row = new double[in];
        for (int o = 0; o < out; o++) {
            java.util.Arrays.fill(row, 0);
            for (int k = 0; k < rank; k++) {
                double bk = b[o * rank + k];
                if (bk == 0) continue;
                int base = k * in;
                for (int i = 0; i < in; i++) row[i] += bk * a[base + i];
            }
            for (int i = 0; i < in; i++) w[o * in + i] = (float) row[i];
        }
        return w;
    }

    /** sum_{i >= rank} sigma_i^2: the squared Frobenius error of the truncation (Eckart-Young). */
    public double tailEnergy() {
        double e = 0;
        for (int i = rank; i < sigma.length; i++) e += sigma[i] * sigma[i];
        return e;
    }
}
