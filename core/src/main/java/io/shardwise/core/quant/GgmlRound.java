package io.shardwise.core.quant;

/** ggml's integer rounding rules, shared by the block quantizers so each type rounds exactly as ggml-quants.c does. */
public final class GgmlRound {
    private GgmlRound() {
    }

    /**
     * ggml's {@code nearest_int}: round half to even through the float trick {@code fval + 12582912.f}
     * (valid for |fval| <= 4194303, as in ggml, which asserts it).
     */
    public static int nearestInt(float fval) {
        float val = fval + 12582912.0f;
        int i = Float.floatToRawIntBits(val);
        return (i & 0x007fffff) - 0x00400000;
    }

    /** C's {@code roundf}: half away from zero. */
    public static int roundf(float v) {
        // in double, so that v + 0.5 cannot round up (0.49999997f + 0.5f is 1.0f in float)
        double r = Math.floor(Math.abs((double) v) + 0.5);
        return (int) (v < 0 ? -r : r);
    }
}
