package io.shardwise.core.quant;

import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * {@link RowInt8Type}: per row, scale s = max|w_j| / 127 over the non-outlier columns, q_j = round(w_j / s) in
 * [-127, 127] (0 in the outlier columns), the outlier columns' weights kept as fp16 (LLM.int8(), Dettmers et al.:
 * X W = X_O W_O (fp16) + X_R W_R (int8)). The outlier columns come from activation statistics
 * ({@link #quantize(float[], int, int, int, int[], MemorySegment, long)}); the plain {@link TensorCodec#quantize}
 * of an {@code I8_F16X<k>} type, which has none, keeps the k columns of largest weight magnitude.
 */
public final class RowInt8Codec implements TensorCodec {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final RowInt8Type type;

    public RowInt8Codec(RowInt8Type type) {
        this.type = type;
    }

    @Override
    public TensorType type() {
        return type;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, rowLength, largestColumns(src, srcOffset, n, rowLength, type.outliers()), dst, dstOffset);
    }

    /**
     * Quantizes whole rows keeping {@code outlierCols} (ascending, distinct, within the row; their count is the
     * type's k) in fp16; the type written is {@code I8_F16X<outlierCols.length>} ({@code I8_SYM_CH} for none).
     */
    public static void quantize(float[] src, int srcOffset, int n, int rowLength, int[] outlierCols, MemorySegment dst, long dstOffset) {
        if (rowLength < 1 || n % rowLength != 0) throw new IllegalArgumentException("row int8: " + n + " values are not whole rows of " + rowLength);
        checkColumns(outlierCols, rowLength);
        int k = outlierCols.length;
        long rowBytes = new RowInt8Type(k).rowBytes(rowLength);
        boolean[] outlier = new boolean[rowLength];
        for (int c : outlierCols) outlier[c] = true;
        for (int r = 0; r < n / rowLength; r++) {
            int base = srcOffset + r * rowLength;
            long at = dstOffset + r * rowBytes;
            float amax = 0;
            for (int j = 0; j < rowLength; j++) if (!outlier[j]) amax = Math.max(amax, Math.abs(src[base + j]));
            float scale = amax / 127f;
            float inv = amax == 0 ? 0 : 127f / amax;
            dst.set(Tensor.F32_LE, at, scale);
            for (int j = 0; j < rowLength; j++) {
                int q = outlier[j] ? 0 : Math.max(-127, Math.min(127, Math.round(src[base + j] * inv)));
                dst.set(ValueLayout.JAVA_BYTE, at + 4 + j, (byte) q);
            }
            for (int i = 0; i < k; i++) {
                dst.set(I32, at + 4 + rowLength + 4L * i, outlierCols[i]);
                dst.set(I16, at + 4 + rowLength + 4L * k + 2L * i, F16Codec.floatToHalf(src[base + outlierCols[i]]));
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % rowLength != 0 || n % rowLength != 0) throw new IllegalArgumentException(type + " reads whole rows");
        int k = type.outliers();
        long rowBytes = type.rowBytes(rowLength);
        long firstRow = firstElement / rowLength;
        for (int r = 0; r < n / rowLength; r++) {
            long at = (firstRow + r) * rowBytes;
            float scale = src.get(Tensor.F32_LE, at);
            int o = dstOffset + r * rowLength;
            for (int j = 0; j < rowLength; j++) dst[o + j] = src.get(ValueLayout.JAVA_BYTE, at + 4 + j) * scale;
            for (int i = 0; i < k; i++) {
                int c = src.get(I32, at + 4 + rowLength + 4L * i);
                if (c < 0 || c >= rowLength) throw new IllegalArgumentException(type + ": row " + (firstRow + r) + " names outlier column " + c + " outside [0, " + rowLength + ")");
                dst[o + c] = F16Codec.halfToFloat(src.get(I16, at + 4 + rowLength + 4L * k + 2L * i));
            }
        }
    }

    /** The k columns whose largest |w| over the given rows is largest, ascending. */
    static int[] largestColumns(float[] src, int srcOffset, int n, int rowLength, int k) {
        if (k > rowLength) throw new IllegalArgumentException("row int8: " + k + " outlier columns in rows of " + rowLength);
        if (k == 0) return new int[0];
        float[] colMax = new float[rowLength];
        for (int i = 0; i < n; i++) colMax[i % rowLength] = Math.max(colMax[i % rowLength], Math.abs(src[srcOffset + i]));
        Integer[] order = new Integer[rowLength];
        for (int j = 0; j < rowLength; j++) order[j] = j;
        Arrays.sort(order, (a, b) -> Float.compare(colMax[b], colMax[a]));
        int[] cols = new int[k];
        for (int i = 0; i < k; i++) cols[i] = order[i];
        Arrays.sort(cols);
        return cols;
    }

    private static void checkColumns(int[] cols, int rowLength) {
        for (int i = 0; i < cols.length; i++) {
            if (cols[i] < 0 || cols[i] >= rowLength) throw new IllegalArgumentException("row int8: outlier column " + cols[i] + " outside [0, " + rowLength + ")");
            if (i > 0 && cols[i] <= cols[i - 1]) throw new IllegalArgumentException("row int8: outlier columns must ascend without repeats, got " + Arrays.toString(cols));
        }
    }
}
