package io.shardwise.core.runtime;

import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;

/**
 * A linear layer's weight as it is stored: {@code out} rows of {@code in} elements of {@code type} back to back
 * (ggml shape {in, out}), a view of the model's tensor bytes (often a mapped file), never copied or dequantized.
 */
public record Linear(String name, TensorType type, MemorySegment data, int in, int out) {

    public Linear {
        long need = type.byteSize(new long[]{in, out});
        if (data.byteSize() != need) {
            throw new IllegalArgumentException("tensor " + name + ": " + type.typeName() + " [" + in + ", " + out + "] needs "
                    + need + " bytes, got " + data.byteSize());
        }
    }

    static Linear of(Tensor t) {
        return new Linear(t.name(), t.type(), t.data(), t.cols(), t.rows());
    }
}
