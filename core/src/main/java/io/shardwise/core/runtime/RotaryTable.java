package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;

/**
 * Rotary position embedding (Su et al. 2021, RoFormer, eq. 34): cos/sin of {@code pos * freq_j} for every position
 * of a session and pair j of a head, with the config's frequency scaling. Pairs are (2j, 2j+1) in llama2.c / GGUF
 * "llama" layout, or (j, j + headSize/2) in the NEOX layout (HF, qwen2).
 */
final class RotaryTable {
    private final int headSize;
    private final int half;
    private final boolean neox;
    private final float[] cos, sin;

    RotaryTable(LlamaConfig c, int positions) {
        this.headSize = c.headSize();
        this.half = headSize / 2;
        this.neox = c.ropeNeox();
        this.cos = new float[positions * half];
        this.sin = new float[positions * half];
        float[] freq = new float[half];
        for (int j = 0; j < half; j++) freq[j] = (float) c.ropeScaling().frequency(j, headSize, c.ropeTheta());
        for (int pos = 0; pos < positions; pos++) {
            for (int j = 0; j < half; j++) {
                float angle = pos * freq[j]; // in float, as run.c and ggml compute it
                cos[pos * half + j] = (float) Math.cos(angle);
                sin[pos * half + j] = (float) Math.sin(angle);
            }
        }
    }

    /** Rotates every head of {@code v[off, off + n)} (n a multiple of the head size) to position {@code pos} with {@link Kernels#rope}. */
    void rotate(Kernels k, float[] v, int off, int n, int pos) {
        k.rope(v, off, n, headSize, cos, sin, pos * half, neox);
    }
}
