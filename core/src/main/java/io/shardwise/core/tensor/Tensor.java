package io.shardwise.core.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A named tensor: its type, its ggml shape (ne0 = row length first) and its bytes, which may be a
 * slice of a mapped file. Bytes are little-endian as in GGUF.
 */
public record Tensor(String name, TensorType type, long[] shape, MemorySegment data) {

    public static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Tensor {
        long expected = type.byteSize(shape);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor " + name + ": " + type.typeName() + Arrays.toString(shape)
                    + " needs " + expected + " bytes, got " + data.byteSize());
        }
    }

    public long elements() {
        return TensorType.elements(shape);
    }

    /** Row length (ne0). */
    public int cols() {
        return Math.toIntExact(shape[0]);
    }

    /** Number of rows (product of the other dims). */
    public int rows() {
        return Math.toIntExact(elements() / shape[0]);
    }

    /** A dense float32 tensor over a heap array (copied into a segment). */
    public static Tensor ofFloats(String name, long[] shape, float[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, seg, F32_LE, 0, values.length);
        return new Tensor(name, GgmlType.F32, shape, seg);
    }

    /** This tensor's values as float32; the type's codec dequantizes when needed. */
    public float[] toFloats() {
        return TensorCodecs.dequantize(this);
    }

    public Tensor withName(String newName) {
        return new Tensor(newName, type, shape, data);
    }

    @Override
    public String toString() {
        return name + ":" + type.typeName() + Arrays.toString(shape);
    }
}
