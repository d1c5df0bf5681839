package io.shardwise.quantizer;

import io.shardwise.core.quant.Fp8Codec;
import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;

/**
 * FP8 weight quantization (Micikevicius et al., "FP8 Formats for Deep Learning", section 3: E4M3 and E5M2 with a
 * scale factor): w' = s * fp8(w / s), s = amax / (largest finite value), amax over the whole tensor (per-tensor) or
 * over each output channel (per-channel); fp8() rounds to nearest even and saturates ({@link Fp8Codec}). Data-free:
 * round-to-nearest onto a non-uniform grid, no calibration. A per-tensor scale needs the tensor's amax first, so that
 * variant reads the tensor twice; both go a bounded chunk of rows at a time, straight from the (mapped) input.
 */
public final class Fp8 {
    private Fp8() {
    }

    /** Whose amax sets a scale. */
    public enum Scaling {
        PER_TENSOR, PER_CHANNEL;

        public String paramName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The tensor type of a format and scaling. */
    public static CodebookType type(Fp8Codec.Format format, Scaling scaling) {
        return switch (format) {
            case E4M3 -> scaling == Scaling.PER_TENSOR ? CodebookType.FP8_E4M3 : CodebookType.FP8_E4M3_CH;
            case E5M2 -> scaling == Scaling.PER_TENSOR ? CodebookType.FP8_E5M2 : CodebookType.FP8_E5M2_CH;
        };
    }

    /** {@code weights} in FP8, allocated in {@code arena}; a non-finite weight is refused, naming the tensor. */
    public static Tensor quantize(Tensor weights, Fp8Codec.Format format, Scaling scaling, Arena arena) {
        CodebookType type = type(format, scaling);
        TensorCodec from = TensorCodecs.codec(weights.type());
        Fp8Codec to = (Fp8Codec) TensorCodecs.codec(type);
        int cols = weights.cols();
        long rows = weights.elements() / cols;
        long rowBytes = type.rowBytes(cols);
        int chunkRows = (int) Math.max(1, Math.min(rows, Rtn.CHUNK_FLOATS / cols));
        float[] buf = new float[Math.multiplyExact(chunkRows, cols)];
        try {
            float scale = 0;
            if (scaling == Scaling.PER_TENSOR) {
                float amax = 0;
                for (long r = 0; r < rows; r += chunkRows) {
                    int n = (int) Math.min(chunkRows, rows - r);
                    from.dequantize(weights.data(), r * cols, n * cols, cols, buf, 0);
                    amax = Math.max(amax, Fp8Codec.amax(buf, 0, n * cols, cols));
                }
                scale = Fp8Codec.scale(amax, format);
            }
            MemorySegment out = arena.allocate(type.byteSize(weights.shape()), 64);
            for (long r = 0; r < rows; r += chunkRows) {
                int n = (int) Math.min(chunkRows, rows - r);
                from.dequantize(weights.data(), r * cols, n * cols, cols, buf, 0);
                if (scaling == Scaling.PER_TENSOR) to.quantize(buf, 0, n * cols, cols, scale, out, r * rowBytes);
                else to.quantize(buf, 0, n * cols, cols, out, r * rowBytes);
            }
            return new Tensor(weights.name(), type, weights.shape(), out);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(weights.name() + ": " + e.getMessage(), e);
        }
    }
}
