package io.shardwise.core.model;

/**
 * How RoPE frequencies are stretched for long context: none, linear (positions divided by factor) or
 * Llama 3's per-frequency scaling (HF config.json "rope_scaling", GGUF rope.scaling.* and rope_freqs).
 */
public record RopeScaling(Type type, float factor, float lowFreqFactor, float highFreqFactor, int originalContext) {

    public enum Type { NONE, LINEAR, LLAMA3 }

    public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1f, 0f, 0f, 0);

    public RopeScaling {
        if (type == null) throw new IllegalArgumentException("rope scaling type is null");
        if (type != Type.NONE && !(factor > 0)) throw new IllegalArgumentException("rope scaling factor must be > 0, got " + factor);
        if (type == Type.LLAMA3 && (originalContext <= 0 || !(highFreqFactor > lowFreqFactor))) {
            throw new IllegalArgumentException("llama3 rope scaling needs original_context > 0 and high_freq_factor > low_freq_factor, got " + this);
        }
    }

    public static RopeScaling linear(float factor) {
        return new RopeScaling(Type.LINEAR, factor, 0f, 0f, 0);
    }

    public static RopeScaling llama3(float factor, float lowFreqFactor, float highFreqFactor, int originalContext) {
        return new RopeScaling(Type.LLAMA3, factor, lowFreqFactor, highFreqFactor, originalContext);
    }

    /**
     * The frequency of rotary pair {@code i} of {@code headSize}, scaled: theta^(-2i/headSize), then Llama 3's
     * rule (HF modeling_rope_utils._compute_llama3_parameters) or linear's 1/factor.
     */
    public double frequency(int i, int headSize, double theta) {
        double f = Math.pow(theta, -2.0 * i / headSize);
        return switch (type) {
            case NONE -> f;
            case LINEAR -> f / factor;
            case LLAMA3 -> {
                double wavelen = 2 * Math.PI / f;
                double lowWavelen = originalContext / lowFreqFactor;
                double highWavelen = originalContext / highFreqFactor;
                if (wavelen < highWavelen) yield f;
                if (wavelen > lowWavelen) yield f / factor;
                double smooth = (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                yield (1 - smooth) * f / factor + smooth * f;
            }
        };
    }
}
