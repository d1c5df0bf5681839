package io.shardwise.core.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A bounds-checked little-endian reader over GGUF bytes. Every read checks the bytes left first, so a
 * corrupt count or length becomes a {@link ModelFormatException} naming the file and field, never an
 * allocation of what the file claims.
 */
final class GgufCursor {
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Arrays nested deeper than this are refused: recursion depth must not depend on the file. */
    static final int MAX_ARRAY_DEPTH = 8;

    private final MemorySegment seg;
    private final String source;
    private long pos;

    GgufCursor(MemorySegment seg, String source) {
        this.seg = seg;
        this.source = source;
    }

    long position() {
        return pos;
    }

    long remaining() {
        return seg.byteSize() - pos;
    }

    ModelFormatException error(String field, String what) {
        return new ModelFormatException(source + ": GGUF " + field + ": " + what);
    }

    private void need(long n, String field) throws ModelFormatException {
        if (n < 0 || n > remaining()) {
            throw error(field, "file is truncated at byte " + pos + " (needs " + (n < 0 ? Long.toUnsignedString(n) : n) + " bytes, " + remaining() + " left)");
        }
    }

    int u8(String field) throws ModelFormatException {
        need(1, field);
        return seg.get(ValueLayout.JAVA_BYTE, pos++) & 0xff;
    }

    int u16(String field) throws ModelFormatException {
        need(2, field);
        int v = seg.get(U16, pos) & 0xffff;
        pos += 2;
        return v;
    }

    /** An unsigned 32-bit value, widened. */
    long u32(String field) throws ModelFormatException {
        need(4, field);
        long v = seg.get(U32, pos) & 0xffffffffL;
        pos += 4;
        return v;
    }

    /** A 64-bit value as its raw bits (callers treat negative as "more than 2^63"). */
    long u64(String field) throws ModelFormatException {
        need(8, field);
        long v = seg.get(U64, pos);
        pos += 8;
        return v;
    }

    float f32(String field) throws ModelFormatException {
        need(4, field);
        float v = seg.get(F32, pos);
        pos += 4;
        return v;
    }

    double f64(String field) throws ModelFormatException {
        need(8, field);
        double v = seg.get(F64, pos);
        pos += 8;
        return v;
    }

    /** A length-prefixed UTF-8 string of at most {@code maxBytes} bytes. */
    String string(String field, long maxBytes) throws ModelFormatException {
        long len = u64(field + " length");
        if (len < 0 || len > remaining()) {
            throw error(field, "string length " + Long.toUnsignedString(len) + " at byte " + (pos - 8) + " runs past the end of the file (" + remaining() + " bytes left)");
        }
        if (len > maxBytes) throw error(field, "string of " + len + " bytes is longer than the " + maxBytes + " allowed");
        byte[] b = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
        pos += len;
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Checks that {@code count} values of the smallest size of {@code type} fit in what is left. */
    void checkCount(long count, GgufValueType type, String field) throws ModelFormatException {
        if (count < 0 || count > remaining() / type.minBytes()) {
            throw error(field, "count " + Long.toUnsignedString(count) + " of " + type + " cannot fit in the " + remaining() + " bytes left");
        }
    }

    /** Moves past one array payload (count elements of {@code type}), checking every length on the way. */
    void skipArray(GgufValueType type, long count, int depth, String field) throws ModelFormatException {
        checkCount(count, type, field);
        switch (type) {
            case STRING -> {
                for (long i = 0; i < count; i++) {
                    if (remaining() < 8) throw error(field, "string " + i + " length: file is truncated at byte " + pos);
                    long len = seg.get(U64, pos); // no per-element field names: vocabularies have 10^5 strings
                    pos += 8;
                    if (len < 0 || len > remaining()) {
                        throw error(field, "string " + i + " length " + Long.toUnsignedString(len) + " runs past the end of the file (" + remaining() + " bytes left)");
                    }
                    pos += len;
                }
            }
            case ARRAY -> {
                if (depth >= MAX_ARRAY_DEPTH) throw error(field, "arrays nested more than " + MAX_ARRAY_DEPTH + " deep");
                for (long i = 0; i < count; i++) {
                    GgufValueType inner = arrayType(field + "[" + i + "]");
                    long n = u64(field + "[" + i + "] count");
                    skipArray(inner, n, depth + 1, field + "[" + i + "]");
                }
            }
            default -> pos += count * type.size;
        }
    }

    GgufValueType arrayType(String field) throws ModelFormatException {
        long id = u32(field + " element type");
        GgufValueType t = GgufValueType.byId(id);
        if (t == null) throw error(field, "unknown array element type id " + id);
        return t;
    }

    /** Reads one value of {@code type}; arrays stay views of the file bytes. */
    GgufValue value(GgufValueType type, String field) throws ModelFormatException {
        return switch (type) {
            case UINT8 -> new GgufValue.Int(type, u8(field));
            case INT8 -> new GgufValue.Int(type, (byte) u8(field));
            case UINT16 -> new GgufValue.Int(type, u16(field));
            case INT16 -> new GgufValue.Int(type, (short) u16(field));
            case UINT32 -> new GgufValue.Int(type, u32(field));
            case INT32 -> new GgufValue.Int(type, (int) u32(field));
            case UINT64, INT64 -> new GgufValue.Int(type, u64(field));
            case FLOAT32 -> new GgufValue.Real(type, f32(field));
            case FLOAT64 -> new GgufValue.Real(type, f64(field));
            case BOOL -> new GgufValue.Bool(u8(field) != 0);
            case STRING -> new GgufValue.Str(string(field, GgufValue.MAX_STRING_BYTES));
            case ARRAY -> {
                GgufValueType inner = arrayType(field);
                long count = u64(field + " count");
                long start = pos;
                skipArray(inner, count, 0, field);
                yield new GgufValue.Array(inner, count, seg.asSlice(start, pos - start));
            }
        };
    }
}
