package io.shardwise.core.tensor;

/**
 * ggml tensor types with their GGUF type ids, block sizes (elements per block) and block byte sizes.
 * Values match ggml.h / ggml.c's type traits.
 */
public enum GgmlType implements TensorType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q8_1(9, 32, 36),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    IQ4_NL(20, 32, 18),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    BF16(30, 1, 2);

    public final int id;
    public final int blockSize;
    public final int blockBytes;

    GgmlType(int id, int blockSize, int blockBytes) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    @Override
    public String typeName() {
        return name();
    }

    @Override
    public long byteSize(long[] shape) {
        long n = TensorType.elements(shape);
        if (shape.length > 0 && shape[0] % blockSize != 0) {
            throw new IllegalArgumentException(this + " needs rows that are a multiple of " + blockSize + ", got " + shape[0]);
        }
        return Math.multiplyExact(n / blockSize, (long) blockBytes);
    }

    /** True when a row of this length can be stored in this type. */
    public boolean fitsRow(long rowLength) {
        return rowLength % blockSize == 0;
    }

    public boolean isQuantized() {
        return blockSize > 1;
    }

    public static GgmlType fromId(int id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        throw new IllegalArgumentException("unknown ggml type id " + id);
    }
}
