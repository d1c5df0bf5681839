package io.shardwise.core.calib;

import java.util.Locale;

/**
 * How a calibrated stage feeds its blocks (DESIGN.md, Stages): {@code INDEPENDENT}, every block sees the input
 * model's own activations and all blocks run in parallel; {@code SEQUENTIAL}, block i+1 sees the outputs of the
 * already compressed block i, handed over as an activation blob.
 */
public enum CalibrationMode {
    INDEPENDENT, SEQUENTIAL;

    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static CalibrationMode parse(String s) {
        for (CalibrationMode m : values()) if (m.key().equalsIgnoreCase(s.trim())) return m;
        throw new IllegalArgumentException("calib_mode: '" + s + "' is not one of independent, sequential");
    }
}
