package io.shardwise.quantizer;

import io.shardwise.core.quant.Nf4Codec;
import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * QLoRA's NF4 weight storage (Dettmers et al., "QLoRA: Efficient Finetuning of Quantized LLMs", section 3, eq. 4 and
 * double quantization): blocks of 64 weights scaled by their absmax onto the 16 NormalFloat levels (quantiles of
 * N(0, 1) with an exact 0), the absmaxes of a row double-quantized to int8 around their mean ({@link Nf4Codec}).
 * Data-free: round-to-nearest onto a non-uniform grid, no calibration. Any row length works (the last block of a row
 * may be shorter), so no tensor needs a fallback. A tensor is quantized a bounded chunk of rows at a time, straight
 * from its (mapped) input.
 */
public final class QLoraNf4 {
    private QLoraNf4() {
    }

    /** {@code weights} as NF4, allocated in {@code arena}; a non-finite weight is refused, naming the tensor. */
    public static Tensor quantize(Tensor weights, Arena arena) {
        TensorCodec from = TensorCodecs.codec(weights.type());
        TensorCodec to = TensorCodecs.codec(CodebookType.NF4);
        int cols = weights.cols();
        long rows = weights.elements() / cols;
        long rowBytes = CodebookType.NF4.rowBytes(cols);
        MemorySegment out = arena.allocate(CodebookType.NF4.byteSize(weights.shape()), 64);
        int chunkRows = (int) Math.max(1, Math.min(rows, Rtn.CHUNK_FLOATS / cols));
        float[] buf = new float[Math.multiplyExact(chunkRows, cols)];
        for (long r = 0; r < rows; r += chunkRows) {
            int n = (int) Math.min(chunkRows, rows - r);
            from.dequantize(weights.data(), r * cols, n * cols, cols, buf, 0);
            try {
                to.quantize(buf, 0, n * cols, cols, out, r * rowBytes);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(weights.name() + " (rows from " + r + "): " + e.getMessage(), e);
            }
        }
        return new Tensor(weights.name(), CodebookType.NF4, weights.shape(), out);
    }

    /** Bits per weight of an NF4 matrix with rows of {@code rowLength}: 4, plus 8 per block and 64 per row. */
    public static double bitsPerWeight(long rowLength) {
        return CodebookType.NF4.rowBytes(rowLength) * 8.0 / rowLength;
    }
}
