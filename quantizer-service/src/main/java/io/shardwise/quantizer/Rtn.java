package io.shardwise.quantizer;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.util.Optional;

/**
 * Round-to-nearest (RTN) weight quantization, the data-free baseline of the survey (Zhu et al., "A Survey on
 * Model Compression for LLMs", weight-only quantization): every weight is mapped to its nearest grid point,
 * q = round(w / s). Grids: ggml's block formats Q8_0 (s = absmax/127 per 32 weights) and Q4_0 (s = -max/8,
 * q + 8 in 4 bits), and per-output-channel asymmetric int8/int4 (s = (max - min) / (2^b - 1), zero point z).
 * A matrix whose row length is not a multiple of the block size falls back to F16, as llama.cpp's quantize
 * does as its last resort; the fallback is reported, never silent.
 */
public final class Rtn {

    /** A quantized tensor, and why it is not in the requested type when it fell back. */
    public record Quantized(Tensor tensor, Optional<String> fallback) {
    }

    private Rtn() {
    }

    public static Quantized quantize(Tensor weights, TensorType target) {
        return quantize(weights.name(), weights.shape(), weights.toFloats(), target);
    }

    /** Quantizes float32 values of ggml shape {@code shape} (ne0 = row length) to {@code target}. */
    public static Quantized quantize(String name, long[] shape, float[] values, TensorType target) {
        if (target instanceof GgmlType g && g.isQuantized() && !g.fitsRow(shape[0])) {
            String why = name + ": row " + shape[0] + " % " + g.blockSize + " != 0 -> F16 fallback";
            return new Quantized(TensorCodecs.quantize(name, shape, values, GgmlType.F16), Optional.of(why));
        }
        return new Quantized(TensorCodecs.quantize(name, shape, values, target), Optional.empty());
    }
}
