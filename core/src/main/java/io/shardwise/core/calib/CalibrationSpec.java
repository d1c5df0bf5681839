package io.shardwise.core.calib;

import io.shardwise.proto.v1.ParamSpec;

import java.util.List;
import java.util.Map;

/**
 * Which calibration text a stage uses and how much of it: {@code samples} windows of {@code seqLen} tokens (BOS
 * first), drawn with {@code seed}, and the {@link CalibrationMode}. Read from the stage parameters
 * {@code calibration}, {@code calib_samples}, {@code calib_seq_len}, {@code calib_seed}, {@code calib_mode}.
 */
public record CalibrationSpec(String dataset, int samples, int seqLen, long seed, CalibrationMode mode) {
    public static final String DATASET = "calibration", SAMPLES = "calib_samples", SEQ_LEN = "calib_seq_len",
            SEED = "calib_seed", MODE = "calib_mode";
    /** The built-in default: TinyStories training text (shared/data), never the evaluation sample. */
    public static final String DEFAULT_DATASET = "tinystories-train";
    public static final int DEFAULT_SAMPLES = 128, DEFAULT_SEQ_LEN = 512, MAX_SEQ_LEN = 8192, MAX_SAMPLES = 4096;

    public CalibrationSpec {
        if (dataset == null || dataset.isBlank()) throw new IllegalArgumentException(DATASET + ": empty");
        if (samples < 1 || samples > MAX_SAMPLES) throw new IllegalArgumentException(SAMPLES + ": " + samples + " is outside [1, " + MAX_SAMPLES + "]");
        if (seqLen < 2 || seqLen > MAX_SEQ_LEN) throw new IllegalArgumentException(SEQ_LEN + ": " + seqLen + " is outside [2, " + MAX_SEQ_LEN + "]");
    }

    /** Tokens the text must have: every window is distinct text (BOS + seqLen - 1 tokens of it). */
    public long tokensNeeded() {
        return (long) samples * (seqLen - 1);
    }

    /** The spec of a stage's parameters; absent ones take the defaults ({@code mode} is the technique's own default). */
    public static CalibrationSpec fromParams(Map<String, String> params, CalibrationMode defaultMode) {
        return new CalibrationSpec(params.getOrDefault(DATASET, DEFAULT_DATASET).trim(),
                integer(params, SAMPLES, DEFAULT_SAMPLES), integer(params, SEQ_LEN, DEFAULT_SEQ_LEN),
                Long.parseLong(params.getOrDefault(SEED, "0").trim()),
                params.containsKey(MODE) ? CalibrationMode.parse(params.get(MODE)) : defaultMode);
    }

    /** The parameter specs a calibrated technique lists in its capabilities. */
    public static List<ParamSpec> paramSpecs(CalibrationMode defaultMode) {
        return List.of(
                ParamSpec.newBuilder().setName(DATASET).setDefaultValue(DEFAULT_DATASET)
                        .setDescription("calibration text: a dataset name (tinystories-train, tinystories, wikitext2, the demo model's texts) or a file: URI under an allowed root").build(),
                ParamSpec.newBuilder().setName(SAMPLES).setDefaultValue(Integer.toString(DEFAULT_SAMPLES)).setMin(1).setMax(MAX_SAMPLES)
                        .setDescription("calibration windows (seeded, distinct text)").build(),
                ParamSpec.newBuilder().setName(SEQ_LEN).setDefaultValue(Integer.toString(DEFAULT_SEQ_LEN)).setMin(2).setMax(MAX_SEQ_LEN)
                        .setDescription("tokens per calibration window, BOS included").build(),
                ParamSpec.newBuilder().setName(SEED).setDefaultValue("0").setMin(0).setMax(Integer.MAX_VALUE)
                        .setDescription("seed of the window choice").build(),
                ParamSpec.newBuilder().setName(MODE).setDefaultValue(defaultMode.key()).addAllowed("independent").addAllowed("sequential")
                        .setDescription("independent: every block calibrated on the input model's activations, all in parallel; sequential: block i+1 on compressed block i's outputs").build());
    }

    private static int integer(Map<String, String> params, String key, int dflt) {
        String v = params.get(key);
        if (v == null) return dflt;
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + ": '" + v + "' is not a whole number");
        }
    }
}
