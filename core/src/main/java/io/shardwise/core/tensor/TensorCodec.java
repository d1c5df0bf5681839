package io.shardwise.core.tensor;

import java.lang.foreign.MemorySegment;

/** Converts float32 rows to and from one tensor type's bytes. Implementations are bit-exact with ggml's reference code. */
public interface TensorCodec {

    TensorType type();

    /** Quantizes {@code n} floats (a whole number of rows of length {@code rowLength}) into {@code dst}. */
    void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset);

    /**
     * Quantizes with an importance matrix ({@code importance}: one weight per column, length {@code rowLength}) as
     * ggml's {@code ggml_quantize_chunk(..., imatrix)} does. Types that ignore it (F32, F16, BF16, Q8_0) quantize plainly.
     */
    default void quantize(float[] src, int srcOffset, int n, int rowLength, float[] importance, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, rowLength, dst, dstOffset);
    }

    /** Dequantizes {@code n} elements starting at element {@code firstElement} of {@code src} into {@code dst}. */
    void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset);
}
