package io.shardwise.quantizer;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * Round-to-nearest (RTN) weight quantization, the data-free baseline of the survey (Zhu et al., "A Survey on
 * Model Compression for LLMs", weight-only quantization): every weight is mapped to its nearest grid point,
 * q = round(w / s). Grids: ggml's block formats Q8_0 (s = absmax/127 per 32 weights) and Q4_0 (s = -max/8,
 * q + 8 in 4 bits), and per-output-channel asymmetric int8/int4 (s = (max - min) / (2^b - 1), zero point z).
 * A matrix whose row length is not a multiple of the block size falls back to a fallback type (F16 unless told,
 * llama.cpp's last resort); the fallback is reported, never silent. Every grid is per row or per block, so a
 * tensor is quantized a bounded chunk of rows at a time, straight from its (mapped) input.
 */
public final class Rtn {
    /** Floats dequantized at once: memory beyond the output stays this small whatever the tensor's size. */
    static final int CHUNK_FLOATS = 1 << 18;

    /** A quantized tensor, and why it is not in the requested type when it fell back. */
    public record Quantized(Tensor tensor, Optional<String> fallback) {
    }

    private Rtn() {
    }

    /** Quantizes {@code weights} into memory the garbage collector frees. */
    public static Quantized quantize(Tensor weights, TensorType target) {
        return quantize(weights, target, Arena.ofAuto());
    }

    /**
     * Quantizes {@code weights} chunk by chunk of rows into a tensor allocated in {@code arena}: besides the
     * output, memory holds one chunk of floats; mapped input pages are released as soon as they are read.
     */
    public static Quantized quantize(Tensor weights, TensorType target, Arena arena) {
        return quantize(weights, target, GgmlType.F16, arena);
    }

    /** As {@link #quantize(Tensor, TensorType, Arena)}, a misfit row going to {@code fallbackType} (which must fit it). */
    public static Quantized quantize(Tensor weights, TensorType target, TensorType fallbackType, Arena arena) {
        Optional<String> fallback = fallback(weights.name(), weights.shape(), target, fallbackType);
        TensorType type = fallback.isPresent() ? fallbackType : target;
        TensorCodec from = TensorCodecs.codec(weights.type());
        TensorCodec to = TensorCodecs.codec(type);
        int cols = weights.cols();
        long rows = weights.elements() / cols;
        long rowBytes = type.byteSize(new long[]{cols});
        long srcRowBytes = weights.type().byteSize(new long[]{cols});
        MemorySegment out = arena.allocate(type.byteSize(weights.shape()), 64);
        MemorySegment src = weights.data();
        int chunkRows = (int) Math.max(1, Math.min(rows, CHUNK_FLOATS / cols));
        float[] buf = new float[Math.multiplyExact(chunkRows, cols)];
        for (long r = 0; r < rows; r += chunkRows) {
            int n = (int) Math.min(chunkRows, rows - r);
            from.dequantize(src, r * cols, n * cols, cols, buf, 0);
            to.quantize(buf, 0, n * cols, cols, out, r * rowBytes);
            // read: the page cache keeps them; from 64 KiB back, as the kernel's fault-around maps the aligned
            // 64 KiB window of a fault, pages of the chunk before included
            long back = Math.max(0, r * srcRowBytes - (1 << 16));
            if (src.isMapped()) src.asSlice(back, (r + n) * srcRowBytes - back).unload();
        }
        return new Quantized(new Tensor(weights.name(), type, weights.shape(), out), fallback);
    }

    /** Quantizes float32 values of ggml shape {@code shape} (ne0 = row length) to {@code target}. */
    public static Quantized quantize(String name, long[] shape, float[] values, TensorType target) {
        Optional<String> fallback = fallback(name, shape, target, GgmlType.F16);
        return new Quantized(TensorCodecs.quantize(name, shape, values, fallback.isPresent() ? GgmlType.F16 : target), fallback);
    }

    /** True when a row of {@code rowLength} elements can be stored in {@code type} (block types need whole blocks). */
    public static boolean fits(TensorType type, long rowLength) {
        return !(type instanceof GgmlType g) || g.fitsRow(rowLength);
    }

    private static Optional<String> fallback(String name, long[] shape, TensorType target, TensorType fallbackType) {
        if (fits(target, shape[0])) return Optional.empty();
        if (!fits(fallbackType, shape[0])) {
            throw new IllegalArgumentException(name + ": row " + shape[0] + " fits neither " + target.typeName()
                    + " nor the fallback " + fallbackType.typeName() + " (params.fallback)");
        }
        return Optional.of(name + ": row " + shape[0] + " % " + ((GgmlType) target).blockSize + " != 0 -> " + fallbackType.typeName() + " fallback");
    }
}
