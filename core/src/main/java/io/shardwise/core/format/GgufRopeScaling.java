package io.shardwise.core.format;

import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.util.Arrays;

/**
 * RoPE scaling from GGUF as llama.cpp reads it: {@code <arch>.rope.scaling.type} "none"/"linear" with
 * {@code .rope.scaling.factor} (a factor without a type means linear, llama.cpp's default), or Llama 3's
 * {@code rope_freqs.weight}. Llama 3's parameters come from Shardwise's own keys when present, else are fitted
 * to rope_freqs (only the ratios original_context/low and original_context/high matter) and checked against it.
 */
final class GgufRopeScaling {
    private GgufRopeScaling() {
    }

    static RopeScaling read(GgufFile f, String p, int headSize, float theta) throws ModelFormatException {
        String src = f.source();
        String type = f.has(p + "rope.scaling.type") ? f.string(p + "rope.scaling.type") : null;
        Tensor freqs = f.tensors().get(GgufLlama.ROPE_FREQS);
        if (type != null && !type.equals("none") && !type.equals("linear")) {
            throw new ModelFormatException(src + ": GGUF " + p + "rope.scaling.type '" + type + "' is not supported (none, linear, or Llama 3's rope_freqs)");
        }
        if (freqs != null) {
            if (type != null && !type.equals("none") && !(type.equals("linear") && f.real(p + "rope.scaling.factor", 1.0) == 1.0)) {
                throw new ModelFormatException(src + ": GGUF has both " + GgufLlama.ROPE_FREQS + " and " + p + "rope.scaling.type '" + type + "' (not supported)");
            }
            return llama3(f, freqs, headSize, theta);
        }
        if ("none".equals(type)) return RopeScaling.NONE;
        double factor = f.real(p + "rope.scaling.factor", 0.0);
        if (factor == 0.0 || factor == 1.0) return RopeScaling.NONE;
        if (!(factor > 0) || !Double.isFinite(factor)) throw new ModelFormatException(src + ": GGUF " + p + "rope.scaling.factor " + factor + " is not a positive number");
        return RopeScaling.linear((float) factor);
    }

    private static RopeScaling llama3(GgufFile f, Tensor freqs, int headSize, float theta) throws ModelFormatException {
        String src = f.source();
        if (freqs.type() != GgmlType.F32 || freqs.shape().length != 1 || freqs.shape()[0] != headSize / 2) {
            throw new ModelFormatException(src + ": GGUF tensor " + GgufLlama.ROPE_FREQS + " is " + freqs.type() + Arrays.toString(freqs.shape()) + ", expected F32[" + headSize / 2 + "]");
        }
        float[] rf = freqs.toFloats();
        String k = GgufLlama.LLAMA3_KEYS;
        RopeScaling rs;
        try {
            if (f.has(k + "factor")) {
                rs = RopeScaling.llama3((float) f.real(k + "factor"), (float) f.real(k + "low_freq_factor"), (float) f.real(k + "high_freq_factor"),
                        (int) f.integer(k + "original_context_length", 1, 1 << 30));
            } else {
                rs = fit(rf, headSize, theta);
            }
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(src + ": GGUF " + GgufLlama.ROPE_FREQS + ": " + e.getMessage());
        }
        if (rs == null) throw new ModelFormatException(src + ": GGUF " + GgufLlama.ROPE_FREQS + " does not follow Llama 3's scaling rule (not supported)");
        float[] want = GgufLlama.ropeFactors(rs, headSize, theta);
        for (int i = 0; i < rf.length; i++) {
            if (!(Math.abs(want[i] - rf[i]) <= 1e-3 * Math.abs(want[i]))) {
                throw new ModelFormatException(src + ": GGUF " + GgufLlama.ROPE_FREQS + "[" + i + "] = " + rf[i] + " differs from Llama 3 scaling " + rs + " (" + want[i] + ")");
            }
        }
        return rs;
    }

    /** Llama 3 parameters reproducing {@code rf}: factor = the largest entry; the smooth band from two of its points. */
    static RopeScaling fit(float[] rf, int headSize, float theta) {
        float factor = 1f;
        for (float v : rf) factor = Math.max(factor, v);
        if (factor == 1f) return null;
        final int original = 8192; // any value works: the rule depends on original/low and original/high only
        double[] x = new double[2], s = new double[2];
        int found = 0;
        int lastOne = -1, firstFull = -1;
        for (int i = 0; i < rf.length; i++) {
            double freq = Math.pow(theta, -2.0 * i / headSize);
            if (Math.abs(rf[i] - 1f) < 1e-6) lastOne = i;
            else if (Math.abs(rf[i] - factor) < 1e-6 * factor) { if (firstFull < 0) firstFull = i; }
            else if (found < 2) {
                x[found] = freq / (2 * Math.PI); // 1 / wavelength
                s[found] = (1 / rf[i] - 1 / factor) / (1 - 1 / factor);
                found++;
            }
        }
        double a, b; // low/original and high/original
        if (found == 2 && s[0] != s[1]) {
            double width = (x[0] - x[1]) / (s[0] - s[1]);
            a = x[0] - s[0] * width;
            b = a + width;
        } else if (found == 1 && s[0] > 0 && s[0] < 1) {
            // one pair in the band: pick its upper edge between it and the last unscaled pair, the lower edge follows
            double above = lastOne >= 0 ? Math.pow(theta, -2.0 * lastOne / headSize) / (2 * Math.PI) : x[0] * 4;
            b = Math.min(Math.sqrt(x[0] * above), x[0] * (1 / s[0] + 1) / 2); // below x/s keeps the lower edge positive
            a = (x[0] - s[0] * b) / (1 - s[0]);
        } else if (lastOne >= 0 && firstFull > lastOne && found == 0) {
            // no pair in the smooth band: put the band's edges between the last unscaled and the first fully scaled pair
            b = Math.pow(theta, -2.0 * lastOne / headSize) / (2 * Math.PI) * 0.999;
            a = Math.pow(theta, -2.0 * firstFull / headSize) / (2 * Math.PI) * 1.001;
        } else {
            return null;
        }
        if (!(b > a) || !(a > 0)) return null;
        return RopeScaling.llama3(factor, (float) (a * original), (float) (b * original), original);
    }
}
