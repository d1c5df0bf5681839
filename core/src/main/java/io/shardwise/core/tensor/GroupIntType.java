package io.shardwise.core.tensor;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Per-group integer weights (GPTQ's and AWQ's layout): each row is cut into groups of {@code groupSize} consecutive
 * columns, each with its own grid. Stored row by row, group by group: float32 scale, float32 zero point (asymmetric
 * only; symmetric grids have the implicit zero 2^(bits-1)), then the group's {@code bits}-bit integers as a
 * little-endian bit stream (value k at bit k*bits), padded to whole bytes. x' = (q - zero) * scale.
 * Name: {@code I<bits>_<SYM|ASYM>_G<groupSize>}, e.g. {@code I4_SYM_G128}; per channel is a group of a whole row.
 */
public record GroupIntType(int bits, int groupSize, boolean symmetric) implements TensorType {
    private static final Pattern NAME = Pattern.compile("I(\\d+)_(SYM|ASYM)_G(\\d+)", Pattern.CASE_INSENSITIVE);
    public static final int MIN_BITS = 2, MAX_BITS = 8;

    public GroupIntType {
        if (bits < MIN_BITS || bits > MAX_BITS) throw new IllegalArgumentException("group int bits " + bits + " is outside [" + MIN_BITS + ", " + MAX_BITS + "]");
        if (groupSize < 1) throw new IllegalArgumentException("group int group size " + groupSize + " must be positive");
    }

    /** {@code I4_SYM_G32}-style names; null for any other name. */
    public static GroupIntType parseOrNull(String name) {
        Matcher m = NAME.matcher(name.trim());
        if (!m.matches()) return null;
        return new GroupIntType(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(3)), m.group(2).equalsIgnoreCase("SYM"));
    }

    @Override
    public String typeName() {
        return "I" + bits + (symmetric ? "_SYM" : "_ASYM") + "_G" + groupSize;
    }

    /** Largest integer: 2^bits - 1. */
    public int maxQ() {
        return (1 << bits) - 1;
    }

    /** Header bytes (scale, and zero when asymmetric) plus the packed integers of one group. */
    public int groupBytes() {
        return (symmetric ? 4 : 8) + (groupSize * bits + 7) / 8;
    }

    public boolean fitsRow(long rowLength) {
        return rowLength % groupSize == 0;
    }

    public long rowBytes(long rowLength) {
        if (!fitsRow(rowLength)) throw new IllegalArgumentException(typeName() + " needs rows that are a multiple of " + groupSize + " values, got " + rowLength);
        return rowLength / groupSize * groupBytes();
    }

    @Override
    public long byteSize(long[] shape) {
        long rows = TensorType.elements(shape) / shape[0];
        return Math.multiplyExact(rows, rowBytes(shape[0]));
    }

    @Override
    public String toString() {
        return typeName();
    }
}
