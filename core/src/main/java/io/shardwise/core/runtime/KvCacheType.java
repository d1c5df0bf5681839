package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How a session stores its KV cache: float32, or KIVI's asymmetric integer codes (keys per channel over groups of
 * tokens, values per token; see {@link QuantizedKvCache}) in 8 or 4 bits. The name is the lower-case label
 * ({@code f32}, {@code int8}, {@code int4}) used by the CLI, recipes and scores.
 */
public enum KvCacheType {
    F32(32), INT8(8), INT4(4);

    /** KIVI's default group: 32 consecutive tokens share a key channel's scale and zero point. */
    public static final int DEFAULT_GROUP = 32;

    private final int bits;

    KvCacheType(int bits) {
        this.bits = bits;
    }

    public int bits() {
        return bits;
    }

    /** The label: {@code f32}, {@code int8} or {@code int4}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public boolean quantized() {
        return this != F32;
    }

    /** The type of a label (case-insensitive); an unknown one is an error listing the known labels. */
    public static KvCacheType parse(String label) {
        String l = label == null ? "" : label.trim().toLowerCase(Locale.ROOT);
        for (KvCacheType t : values()) if (t.label().equals(l)) return t;
        throw new IllegalArgumentException("'" + label + "' is not a KV-cache type (known: " + labels() + ")");
    }

    public static String labels() {
        return Arrays.stream(values()).map(KvCacheType::label).collect(Collectors.joining(", "));
    }

    /**
     * Bytes one token takes in one layer's cache, amortized: codes for keys and values, plus float32 scale and zero
     * per key channel per group of {@code group} tokens and per value head per token. The float32 residual (keys and values
     * of fewer than one group plus one batch) is not counted: it does not grow with the sequence.
     */
    public double bytesPerTokenPerLayer(LlamaConfig c, int group) {
        int kvDim = c.kvDim();
        if (this == F32) return 2.0 * kvDim * Float.BYTES;
        return 2.0 * kvDim * bits / 8 + 2.0 * Float.BYTES * kvDim / group + 2.0 * Float.BYTES * c.nKvHeads();
    }
}
