package io.shardwise.core.quant;

import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * FP8 weights with a float32 scale (Micikevicius et al., "FP8 Formats for Deep Learning", table 1; the OCP 8-bit
 * floating point spec): x' = decode(code) * s, code = encode(x / s), s = amax / max finite of the format, amax over
 * the row ({@code _CH} types) or over every value handed to one {@link #quantize} call (the per-tensor types: callers
 * pass the whole tensor, or use {@link #quantize(float[], int, int, int, float, MemorySegment, long)} with the tensor's
 * scale). Row layout: see {@link CodebookType}. Non-finite weights are refused.
 */
public final class Fp8Codec implements TensorCodec {

    /**
     * An 8-bit float format. E4M3: bias 7, max 448, no infinities, NaN = S.1111.111. E5M2: bias 15, max 57344,
     * IEEE-style infinities (S.11111.00) and NaNs (S.11111.xx). Both have subnormals.
     */
    public enum Format {
        E4M3(4, 3, 7, false, 0x7E, 0x7F),
        E5M2(5, 2, 15, true, 0x7B, 0x7F);

        public final int exponentBits, mantissaBits, bias;
        /** IEEE-style top exponent (infinities and NaNs) rather than E4M3's single NaN mantissa there. */
        public final boolean ieeeSpecials;
        /** The largest finite code (positive) and the canonical NaN code this encoder writes. */
        public final int maxCode, nanCode;
        public final float max;
        private final float[] decoded = new float[256];

        Format(int exponentBits, int mantissaBits, int bias, boolean ieeeSpecials, int maxCode, int nanCode) {
            this.exponentBits = exponentBits;
            this.ieeeSpecials = ieeeSpecials;
            this.mantissaBits = mantissaBits;
            this.bias = bias;
            this.maxCode = maxCode;
            this.nanCode = nanCode;
            for (int c = 0; c < 256; c++) decoded[c] = decodeBits(c);
            this.max = decoded[maxCode];
        }

        private float decodeBits(int code) {
            int e = code >>> mantissaBits & ((1 << exponentBits) - 1);
            int m = code & ((1 << mantissaBits) - 1);
            float sign = (code & 0x80) != 0 ? -1f : 1f;
            int top = (1 << exponentBits) - 1;
            if (!ieeeSpecials && e == top && m == (1 << mantissaBits) - 1) return Float.NaN;
            if (ieeeSpecials && e == top) return m == 0 ? sign * Float.POSITIVE_INFINITY : Float.NaN;
            if (e == 0) return sign * Math.scalb((float) m, 1 - bias - mantissaBits); // subnormal
            return sign * Math.scalb((float) ((1 << mantissaBits) + m), e - bias - mantissaBits);
        }

        public float decode(int code) {
            return decoded[code & 0xFF];
        }

        /**
         * The code nearest {@code x}, ties to even (round-to-nearest-even), saturating: a magnitude beyond the largest
         * finite value, infinities included, becomes +-max (as NVIDIA's __NV_SATFINITE conversion); NaN stays NaN.
         */
        public int encode(float x) {
            int sign = Float.floatToRawIntBits(x) >>> 31 << 7;
            if (Float.isNaN(x)) return sign | nanCode;
            float a = Math.abs(x);
            if (a >= max) return sign | maxCode;
            // the quantum at a's binade (the subnormal one below the smallest normal): scaling by it is exact
            int exp = Math.max(Math.getExponent(a), 1 - bias);
            int q = exp - mantissaBits;
            int m = (int) Math.rint(Math.scalb((double) a, -q)); // rint: ties to even
            // m in [2^man, 2^(man+1)] (or [0, 2^man] for subnormals); a carry into the next binade lands on its code
            int code = ((exp + bias - 1) << mantissaBits) + m;
            return sign | Math.min(code, maxCode);
        }
    }

    private final CodebookType type;
    private final Format format;

    public Fp8Codec(CodebookType type) {
        this.type = type;
        this.format = switch (type) {
            case FP8_E4M3, FP8_E4M3_CH -> Format.E4M3;
            case FP8_E5M2, FP8_E5M2_CH -> Format.E5M2;
            case NF4 -> throw new IllegalArgumentException("NF4 is not an FP8 type");
        };
    }

    @Override
    public TensorType type() {
        return type;
    }

    public Format format() {
        return format;
    }

    /** The scale mapping {@code amax} onto the format's largest finite value (1 for an all-zero range). */
    public static float scale(float amax, Format f) {
        if (!Float.isFinite(amax) || amax < 0) throw new IllegalArgumentException("FP8: amax " + amax + " is not a finite magnitude");
        if (amax == 0) return 1;
        return Math.max(amax / f.max, Float.MIN_VALUE);
    }

    /** Largest |x| over {@code n} values; refuses a non-finite one, naming its position. */
    public static float amax(float[] src, int off, int n, int rowLength) {
        float a = 0;
        for (int i = 0; i < n; i++) {
            float x = src[off + i];
            if (!Float.isFinite(x)) {
                throw new IllegalArgumentException("FP8: value " + x + " at row " + i / rowLength + ", column " + i % rowLength + " is not finite");
            }
            a = Math.max(a, Math.abs(x));
        }
        return a;
    }

    @Override
    public void quantize(float[] src, int srcOffset, int n, int rowLength, MemorySegment dst, long dstOffset) {
        checkRows(n, rowLength);
        if (type.perChannel) {
            long rowBytes = type.rowBytes(rowLength);
            for (int r = 0; r < n / rowLength; r++) {
                int base = srcOffset + r * rowLength;
                float s = scale(amax(src, base, rowLength, rowLength), format);
                quantizeRows(src, base, rowLength, rowLength, s, dst, dstOffset + r * rowBytes);
            }
        } else {
            quantizeRows(src, srcOffset, n, rowLength, scale(amax(src, srcOffset, n, rowLength), format), dst, dstOffset);
        }
    }

    /** Quantizes whole rows with a given scale (a per-tensor scale computed over more rows than one call holds). */
    public void quantize(float[] src, int srcOffset, int n, int rowLength, float scale, MemorySegment dst, long dstOffset) {
        checkRows(n, rowLength);
        if (!(scale > 0) || !Float.isFinite(scale)) throw new IllegalArgumentException("FP8: scale " + scale + " must be finite and > 0");
        amax(src, srcOffset, n, rowLength); // refuses non-finite values
        quantizeRows(src, srcOffset, n, rowLength, scale, dst, dstOffset);
    }

    private void quantizeRows(float[] src, int srcOffset, int n, int rowLength, float scale, MemorySegment dst, long dstOffset) {
        long rowBytes = type.rowBytes(rowLength);
        for (int r = 0; r < n / rowLength; r++) {
            long at = dstOffset + r * rowBytes;
            dst.set(Tensor.F32_LE, at, scale);
            int base = srcOffset + r * rowLength;
            for (int j = 0; j < rowLength; j++) {
                dst.set(ValueLayout.JAVA_BYTE, at + 4 + j, (byte) format.encode(src[base + j] / scale));
            }
        }
    }

    @Override
    public void dequantize(MemorySegment src, long firstElement, int n, int rowLength, float[] dst, int dstOffset) {
        if (firstElement % rowLength != 0 || n % rowLength != 0) throw new IllegalArgumentException(type + " reads whole rows");
        long rowBytes = type.rowBytes(rowLength);
        long firstRow = firstElement / rowLength;
        for (int r = 0; r < n / rowLength; r++) {
            long at = (firstRow + r) * rowBytes;
            float scale = src.get(Tensor.F32_LE, at);
            int out = dstOffset + r * rowLength;
            for (int j = 0; j < rowLength; j++) dst[out + j] = format.decode(src.get(ValueLayout.JAVA_BYTE, at + 4 + j)) * scale;
        }
    }

    private void checkRows(int n, int rowLength) {
        if (rowLength <= 0 || n < 0 || n % rowLength != 0) {
            throw new IllegalArgumentException(type + " quantizes whole rows: " + n + " values in rows of " + rowLength);
        }
    }
}
