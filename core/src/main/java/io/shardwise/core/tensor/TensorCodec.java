package io.shardwise.core.tensor;

import java.lang.foreign.MemorySegment;

/** Converts float32 rows to and from one tensor type's bytes. Implementations are bit-exact with ggml's reference code. */
public interface TensorCodec {

    TensorType type();

    /** Quantizes {@code n} floats (a whole number of rows of length {@code rowLength}) into {@code dst}. */
    void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset);

    /** Dequantizes {@code n} elements starting at element {@code firstElement} of {@code src} into {@code dst}. */
    void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset);
}
