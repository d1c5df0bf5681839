package io.shardwise.quantizer;

import io.shardwise.core.quant.RowInt8Codec;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * LLM.int8() (Dettmers et al., "LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale"), the
 * mixed-precision decomposition of section 3.2: C = sum_{h in O} X_h W_h (fp16) + S * sum_{h not in O} Xq_h Wq_h
 * (int8, vector-wise: per-token activation and per-output-channel weight scales), where the outlier dimensions
 * O = {h : max|X_h| > threshold} (6.0 in the paper) come from calibration activations. Without outliers a matrix is
 * plain I8_SYM_CH; with k of them, I8_F16X<k>.
 */
public final class LlmInt8 {
    private LlmInt8() {
    }

    /** The input columns whose calibration maximum |x| exceeds the threshold, ascending. */
    public static int[] outlierColumns(float[] xMax, double threshold) {
        if (!(threshold > 0)) throw new IllegalArgumentException("llm_int8: threshold must be > 0, got " + threshold);
        return IntStream.range(0, xMax.length).filter(j -> xMax[j] > threshold).toArray();
    }

    /** The weights with {@code cols} kept in fp16 and the rest int8, a chunk of rows at a time, into {@code arena}. */
    public static Tensor quantize(Tensor weights, int[] cols, Arena arena) {
        RowInt8Type type = new RowInt8Type(cols.length);
        TensorCodec from = TensorCodecs.codec(weights.type());
        int n = weights.cols(), rows = weights.rows();
        long rowBytes = type.rowBytes(n);
        MemorySegment out = arena.allocate(type.byteSize(weights.shape()), 64);
        int chunk = Math.max(1, Math.min(rows, Rtn.CHUNK_FLOATS / n));
        float[] buf = new float[chunk * n];
        for (int r = 0; r < rows; r += chunk) {
            int m = Math.min(chunk, rows - r);
            from.dequantize(weights.data(), (long) r * n, m * n, n, buf, 0);
            RowInt8Codec.quantize(Arrays.copyOf(buf, m * n), 0, m * n, n, cols, out, r * rowBytes);
        }
        return new Tensor(weights.name(), type, weights.shape(), out);
    }
}
