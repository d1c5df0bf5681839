package io.shardwise.core.quant;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Edge cases of the fp16/bf16 conversions that the ggml vectors do not reach. */
class HalfFloatEdgeTest {

    @Test
    void nanPayloadsEncodeAsGgmlCanonicalNan() {
        assertEquals((short) 0x7e00, F16Codec.floatToHalf(Float.intBitsToFloat(0x7f801234)));
        assertEquals((short) 0xfe00, F16Codec.floatToHalf(Float.intBitsToFloat(0xffc0ffff)));
        assertEquals((short) 0x7c00, F16Codec.floatToHalf(Float.POSITIVE_INFINITY));
        assertEquals((short) 0x7bff, F16Codec.floatToHalf(65504f));
        assertEquals((short) 0x7c00, F16Codec.floatToHalf(65520f)); // the tie rounds to even: infinity
    }

    @Test
    void signallingHalfNanDecodesQuietWithPayload() {
        assertEquals(0x7fc02000, Float.floatToRawIntBits(F16Codec.halfToFloat((short) 0x7c01)));
        assertEquals(0xffc02000, Float.floatToRawIntBits(F16Codec.halfToFloat((short) 0xfc01)));
        assertEquals(0x3f800000, Float.floatToRawIntBits(F16Codec.halfToFloat((short) 0x3c00)));
        assertEquals(0x33800000, Float.floatToRawIntBits(F16Codec.halfToFloat((short) 0x0001))); // smallest subnormal
    }

    @Test
    void bf16RoundsHalfToEvenAndQuietsNan() {
        assertEquals((short) 0x3f80, BF16Codec.floatToBf16(Float.intBitsToFloat(0x3f808000))); // tie, even stays
        assertEquals((short) 0x3f82, BF16Codec.floatToBf16(Float.intBitsToFloat(0x3f818000))); // tie, odd rounds up
        assertEquals((short) 0x3f81, BF16Codec.floatToBf16(Float.intBitsToFloat(0x3f808001)));
        assertEquals((short) 0x7fc0, BF16Codec.floatToBf16(Float.intBitsToFloat(0x7f800001)));
        assertEquals((short) 0x7f80, BF16Codec.floatToBf16(Float.intBitsToFloat(0x7f7fffff))); // max float rounds to inf
        assertEquals(1.5f, BF16Codec.bf16ToFloat((short) 0x3fc0));
    }

    @Test
    void q8_0RoundsTiesAwayFromZero() {
        assertEquals(3, Q8_0Codec.roundf(2.5f));
        assertEquals(-3, Q8_0Codec.roundf(-2.5f));
        assertEquals(0, Q8_0Codec.roundf(0.49999997f));
    }
}
