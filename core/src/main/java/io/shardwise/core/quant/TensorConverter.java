package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Re-encodes a tensor into another type (dequantize to float32, quantize with the target's codec),
 * a bounded number of rows at a time so that no tensor ever needs a float array of its full size.
 */
public final class TensorConverter {
    /** Floats held at once while converting. */
    private static final int CHUNK_FLOATS = 1 << 20;

    private TensorConverter() {
    }

    /**
     * The type llama.cpp would store a tensor in when {@code wanted} cannot hold its rows (row length not a
     * multiple of the block size): F16, as convert_hf_to_gguf.py falls back.
     */
    public static GgmlType storableType(GgmlType wanted, long rowLength) {
        return wanted.fitsRow(rowLength) ? wanted : GgmlType.F16;
    }

    /** Bytes of {@code src} in {@code target}'s encoding, written into {@code dst} (which must have the exact size). */
    public static void convert(Tensor src, TensorType target, MemorySegment dst) {
        long need = target.byteSize(src.shape());
        if (dst.byteSize() != need) throw new IllegalArgumentException("tensor " + src.name() + " as " + target.typeName() + " needs " + need + " bytes, got " + dst.byteSize());
        if (src.type() == target) {
            MemorySegment.copy(src.data(), 0, dst, 0, need);
            return;
        }
        TensorCodec from = TensorCodecs.codec(src.type());
        TensorCodec to = TensorCodecs.codec(target);
        int cols = src.cols();
        long rows = src.elements() / cols;
        long rowBytes = target.byteSize(new long[]{cols});
        int chunkRows = (int) Math.max(1, Math.min(rows, CHUNK_FLOATS / cols));
        float[] buf = new float[Math.multiplyExact(chunkRows, cols)];
        for (long r = 0; r < rows; r += chunkRows) {
            int n = (int) Math.min(chunkRows, rows - r) * cols;
            from.dequantize(src.data(), r * cols, n, cols, buf, 0);
            to.quantize(buf, 0, n, cols, dst, r * rowBytes);
        }
    }

    /** {@code src} converted to {@code target} in memory of {@code arena}. */
    public static Tensor convert(Tensor src, TensorType target, Arena arena) {
        if (src.type() == target) return src;
        MemorySegment dst = arena.allocate(target.byteSize(src.shape()), 8);
        convert(src, target, dst);
        return new Tensor(src.name(), target, src.shape(), dst);
    }
}
