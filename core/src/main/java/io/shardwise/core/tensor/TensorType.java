package io.shardwise.core.tensor;

/** How a tensor's elements are stored: a ggml block type, or one of Shardwise's own layouts. */
public sealed interface TensorType permits GgmlType, ChannelIntType, CodebookType, RowInt8Type, GroupIntType {

    /** The name used in manifests and on the command line, e.g. {@code Q8_0} or {@code I4_ASYM_CH}. */
    String typeName();

    /** Bytes needed for a tensor of this type with the given ggml shape (ne0 = row length first). */
    long byteSize(long[] shape);

    /** Parses a manifest/recipe type name; throws naming the accepted names. */
    static TensorType parse(String name) {
        for (GgmlType t : GgmlType.values()) if (t.typeName().equalsIgnoreCase(name)) return t;
        for (ChannelIntType t : ChannelIntType.values()) if (t.typeName().equalsIgnoreCase(name)) return t;
        for (CodebookType t : CodebookType.values()) if (t.typeName().equalsIgnoreCase(name)) return t;
        RowInt8Type r = RowInt8Type.parseOrNull(name);
        if (r != null) return r;
        GroupIntType g = GroupIntType.parseOrNull(name);
        if (g != null) return g;
        throw new IllegalArgumentException("unknown tensor type '" + name + "' (known: "
                + java.util.Arrays.toString(GgmlType.values()) + ", " + java.util.Arrays.toString(ChannelIntType.values())
                + ", " + java.util.Arrays.toString(CodebookType.values()) + ", I8_SYM_CH, I8_F16X<k> and I<bits>_<SYM|ASYM>_G<group>)");
    }

    static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }
}
