package io.shardwise.quantizer;

import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A tensor's measured sensitivity to each candidate type, the E_t(q) of {@link BitAllocation}: the weights are
 * round-tripped through each candidate's codec a bounded chunk of rows at a time (the input is read once, memory
 * holds two float chunks and one encoded chunk per candidate) and the squared error is summed with the weight
 * w_ij = cols_j + rows_i: cols = the input's per-column mean x^2 (a linear layer), rows = how often each row is
 * looked up (an embedding), both absent = 1 for every weight (no calibration).
 */
public final class QuantizationError {
    private QuantizationError() {
    }

    /** Per-weight importance: per column and/or per row, either may be null (both null: uniform 1). */
    public record Importance(float[] cols, float[] rows) {
        public static final Importance UNIFORM = new Importance(null, null);
    }

    /** E_t(q) for each of {@code types} (each must fit the rows), in the same order. */
    public static double[] errors(Tensor w, List<TensorType> types, Importance imp) {
        int cols = w.cols();
        long rows = w.elements() / cols;
        if (imp.cols() != null && imp.cols().length != cols) throw new IllegalArgumentException(w.name() + ": " + imp.cols().length + " column importances for " + cols + " columns");
        if (imp.rows() != null && imp.rows().length != rows) throw new IllegalArgumentException(w.name() + ": " + imp.rows().length + " row importances for " + rows + " rows");
        int chunkRows = (int) Math.max(1, Math.min(rows, Rtn.CHUNK_FLOATS / cols));
        float[] buf = new float[chunkRows * cols], back = new float[chunkRows * cols];
        double[] colW = new double[cols];
        boolean uniform = imp.cols() == null && imp.rows() == null;
        for (int j = 0; j < cols; j++) colW[j] = uniform ? 1 : imp.cols() == null ? 0 : imp.cols()[j];
        TensorCodec from = TensorCodecs.codec(w.type());
        TensorCodec[] codecs = new TensorCodec[types.size()];
        MemorySegment[] scratch = new MemorySegment[types.size()];
        for (int k = 0; k < codecs.length; k++) {
            codecs[k] = TensorCodecs.codec(types.get(k));
            scratch[k] = MemorySegment.ofArray(new byte[Math.toIntExact(types.get(k).byteSize(new long[]{cols, chunkRows}))]);
        }
        double[] err = new double[codecs.length];
        for (long r = 0; r < rows; r += chunkRows) {
            int n = (int) Math.min(chunkRows, rows - r);
            from.dequantize(w.data(), r * cols, n * cols, cols, buf, 0);
            for (int k = 0; k < codecs.length; k++) {
                codecs[k].quantize(buf, 0, n * cols, cols, scratch[k], 0);
                codecs[k].dequantize(scratch[k], 0, n * cols, cols, back, 0);
                double e = 0;
                for (int i = 0; i < n; i++) {
                    double rowW = imp.rows() == null ? 0 : imp.rows()[(int) (r + i)];
                    double s = 0, plain = 0;
                    for (int j = 0, o = i * cols; j < cols; j++, o++) {
                        double d = buf[o] - back[o];
                        s += colW[j] * d * d;
                        plain += d * d;
                    }
                    e += s + rowW * plain;
                }
                err[k] += e;
            }
        }
        return err;
    }
}
