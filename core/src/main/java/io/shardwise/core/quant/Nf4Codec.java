package io.shardwise.core.quant;

import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * QLoRA's 4-bit NormalFloat with double quantization (Dettmers et al., "QLoRA", section 3: NF4 levels from the
 * quantiles of N(0, 1), eq. 4; double quantization of the quantization constants). Each row is cut into blocks of
 * {@value CodebookType#NF4_BLOCK} values (the last one may be shorter); a block's absmax a_b scales it, and a value is
 * stored as the index of the nearest level of {@link #LEVELS} to x / a'_b. The absmaxes of a row are double-quantized
 * as QLoRA does with its 8-bit second level (here per row): mean m, s = max|a_b - m| / 127, q_b = round((a_b - m) / s),
 * a'_b = m + q_b s. Codes are chosen against the dequantized a'_b, so every weight gets the nearest value the stored
 * row represents. Dequantize: x' = LEVELS[code] * a'_b. Row layout: see {@link CodebookType}.
 * Non-finite input is refused (an absmax of inf or NaN would scale the whole block to garbage).
 */
public final class Nf4Codec implements TensorCodec {
    /**
     * The 16 NF4 levels as QLoRA publishes them (bitsandbytes' float32 table): 8 positive and 7 negative quantiles of
     * N(0, 1), normalized to [-1, 1], with an exact 0 at index 7 (Nf4CodecTest derives them again from eq. 4).
     */
    public static final float[] LEVELS = {
            -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
            -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
            0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
            0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
    /** The index of level 0. */
    public static final int ZERO_CODE = 7;
    private static final int BLOCK = CodebookType.NF4_BLOCK;
    /** Midpoints between neighbouring levels: a value above MID[i] is nearer LEVELS[i + 1] (ties go down). */
    private static final float[] MID = new float[15];

    static {
        for (int i = 0; i < 15; i++) MID[i] = (LEVELS[i] + LEVELS[i + 1]) / 2;
    }

    @Override
    public TensorType type() {
        return CodebookType.NF4;
    }

    /** The index of the level nearest {@code v} (v is x / a', so normally in [-1, 1]; beyond, the end levels). */
    public static int nearest(float v) {
        int lo = 0, hi = 15; // binary search over the midpoints: the code is the count of midpoints below v
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (v > MID[mid]) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    public static int blocks(int rowLength) {
        return (rowLength + BLOCK - 1) / BLOCK;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        checkRows(n, rowLength);
        int nb = blocks(rowLength);
        long rowBytes = CodebookType.NF4.rowBytes(rowLength);
        float[] absmax = new float[nb];
        for (int r = 0; r < n / rowLength; r++) {
            int base = srcOffset + r * rowLength;
            double sum = 0;
            for (int b = 0; b < nb; b++) {
                float a = 0;
                for (int j = b * BLOCK, end = Math.min(rowLength, j + BLOCK); j < end; j++) {
                    float x = src[base + j];
                    if (!Float.isFinite(x)) {
                        throw new IllegalArgumentException("NF4: value " + x + " at row " + r + ", column " + j + " is not finite");
                    }
                    a = Math.max(a, Math.abs(x));
                }
                absmax[b] = a;
                sum += a;
            }
            float mean = (float) (sum / nb);
            float dev = 0;
            for (float a : absmax) dev = Math.max(dev, Math.abs(a - mean));
            float scale = dev / 127;
            long at = dstOffset + r * rowBytes;
            dst.set(Tensor.F32_LE, at, scale);
            dst.set(Tensor.F32_LE, at + 4, mean);
            long codes = at + 8 + nb;
            for (int b = 0; b < nb; b++) {
                int q = scale == 0 ? 0 : Math.clamp(Math.round((absmax[b] - mean) / scale), -127, 127);
                dst.set(ValueLayout.JAVA_BYTE, at + 8 + b, (byte) q);
                float a = mean + q * scale;
                for (int j = b * BLOCK, end = Math.min(rowLength, j + BLOCK); j < end; j++) {
                    int code = a == 0 ? ZERO_CODE : nearest(src[base + j] / a);
                    long p = codes + j / 2;
                    if ((j & 1) == 0) dst.set(ValueLayout.JAVA_BYTE, p, (byte) code);
                    else dst.set(ValueLayout.JAVA_BYTE, p, (byte) (dst.get(ValueLayout.JAVA_BYTE, p) & 0x0F | code << 4));
                }
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % rowLength != 0 || n % rowLength != 0) throw new IllegalArgumentException("NF4 reads whole rows");
        int nb = blocks(rowLength);
        long rowBytes = CodebookType.NF4.rowBytes(rowLength);
        long firstRow = firstElement / rowLength;
        for (int r = 0; r < n / rowLength; r++) {
            long at = (firstRow + r) * rowBytes;
            float scale = src.get(Tensor.F32_LE, at);
            float mean = src.get(Tensor.F32_LE, at + 4);
            long codes = at + 8 + nb;
            int out = dstOffset + r * rowLength;
            for (int b = 0; b < nb; b++) {
                float a = mean + src.get(ValueLayout.JAVA_BYTE, at + 8 + b) * scale;
                for (int j = b * BLOCK, end = Math.min(rowLength, j + BLOCK); j < end; j++) {
                    int code = src.get(ValueLayout.JAVA_BYTE, codes + j / 2) >>> ((j & 1) * 4) & 0x0F;
                    dst[out + j] = LEVELS[code] * a;
                }
            }
        }
    }

    /** The dequantized absmax a'_b of block {@code b} of row {@code row}. */
    public static float blockAbsmax(MemorySegment src, long row, int rowLength, int b) {
        long at = row * CodebookType.NF4.rowBytes(rowLength);
        return src.get(Tensor.F32_LE, at + 4) + src.get(ValueLayout.JAVA_BYTE, at + 8 + b) * src.get(Tensor.F32_LE, at);
    }

    private static void checkRows(int n, int rowLength) {
        if (rowLength <= 0 || n < 0 || n % rowLength != 0) {
            throw new IllegalArgumentException("NF4 quantizes whole rows: " + n + " values in rows of " + rowLength);
        }
    }
}
