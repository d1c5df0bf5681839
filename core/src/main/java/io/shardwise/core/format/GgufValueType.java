package io.shardwise.core.format;

/** GGUF metadata value types with their ids (gguf.md) and fixed byte sizes (-1 for strings and arrays). */
public enum GgufValueType {
    UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4), BOOL(7, 1),
    STRING(8, -1), ARRAY(9, -1), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

    public final int id;
    /** Bytes of one value, or -1 when it has a length prefix. */
    public final int size;

    GgufValueType(int id, int size) {
        this.id = id;
        this.size = size;
    }

    /** The fewest bytes one value of this type can take: what bounds a claimed count against the bytes left. */
    public int minBytes() {
        return switch (this) {
            case STRING -> 8;
            case ARRAY -> 12;
            default -> size;
        };
    }

    public boolean isInteger() {
        return this != FLOAT32 && this != FLOAT64 && size > 0 && this != BOOL;
    }

    public boolean isFloat() {
        return this == FLOAT32 || this == FLOAT64;
    }

    /** The type with this id, or null. */
    public static GgufValueType byId(long id) {
        for (GgufValueType t : values()) if (t.id == id) return t;
        return null;
    }
}
