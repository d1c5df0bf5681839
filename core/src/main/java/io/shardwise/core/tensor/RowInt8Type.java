package io.shardwise.core.tensor;

/**
 * Symmetric int8 weights with one f32 scale per output channel, whose rows the runtime dots with int8 activations
 * (quantized per token), int8 x int8 into int32: SmoothQuant's W8A8 (Xiao et al.) when {@code outliers} is 0
 * ({@code I8_SYM_CH}); with {@code outliers} = k > 0, LLM.int8()'s decomposition (Dettmers et al.): k input
 * columns with outlier activations are kept in fp16 and the rest in int8 ({@code I8_F16X<k>}).
 * Row layout: f32 scale, n int8 (0 in the outlier columns), k int32 outlier column indices (ascending, the same
 * in every row), k f16 values of those columns.
 */
public record RowInt8Type(int outliers) implements TensorType {
    public static final RowInt8Type I8_SYM_CH = new RowInt8Type(0);
    static final String MIXED_PREFIX = "I8_F16X";

    public RowInt8Type {
        if (outliers < 0) throw new IllegalArgumentException("outlier columns must be >= 0, got " + outliers);
    }

    @Override
    public String typeName() {
        return outliers == 0 ? "I8_SYM_CH" : MIXED_PREFIX + outliers;
    }

    public long rowBytes(long rowLength) {
        return 4 + rowLength + 6L * outliers;
    }

    @Override
    public long byteSize(long[] shape) {
        long rows = TensorType.elements(shape) / shape[0];
        return Math.multiplyExact(rows, rowBytes(shape[0]));
    }

    /** The type of a name, or null when the name is not one of these. */
    static RowInt8Type parseOrNull(String name) {
        if (name.equalsIgnoreCase("I8_SYM_CH")) return I8_SYM_CH;
        if (name.regionMatches(true, 0, MIXED_PREFIX, 0, MIXED_PREFIX.length())) {
            try {
                int k = Integer.parseInt(name.substring(MIXED_PREFIX.length()));
                if (k > 0) return new RowInt8Type(k);
            } catch (NumberFormatException e) {
                return null;
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return typeName();
    }
}
