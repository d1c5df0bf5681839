package io.shardwise.core.quant;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class Q8_0EdgeTest {

    /** max 8e-39 makes d subnormal and 1/d infinite: ggml's x86 build stores 0 for every quant (cvttss2si), not 127. */
    @Test
    void subnormalScaleStoresZeroQuantsAsGgmlDoes() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j % 3 == 0 ? 8e-39f : j % 3 == 1 ? -8e-39f : 0f;
        MemorySegment out = MemorySegment.ofArray(new byte[34]);
        new Q8_0Codec().quantize(x, 0, 32, 32, out, 0);
        assertEquals(F16Codec.floatToHalf(8e-39f / 127f), out.get(F16Codec.I16_LE, 0));
        for (int j = 0; j < 32; j++) assertEquals(0, out.get(ValueLayout.JAVA_BYTE, 2 + j), "quant " + j);
    }

    /** Exact .5 quotients round away from zero, and 0.49999997 does not round up (x = q * 127 / amax with amax = 127). */
    @Test
    void tiesRoundHalfAwayFromZero() {
        float[] x = new float[32];
        x[0] = 127f;
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.49999997f;
        x[4] = -0.49999997f;
        x[5] = 0.5f;
        x[6] = -0.5f;
        x[7] = -0f;
        x[8] = 126.5f;
        byte[] out = new byte[34];
        Q8_0Codec.quantizeVector(x, 0, 32, MemorySegment.ofArray(out), 0);
        assertArrayEquals(new byte[]{127, 3, -3, 0, 0, 1, -1, 0, 127}, Arrays.copyOfRange(out, 2, 11));
    }

    /** The Vector API path writes the scalar twin's bytes: edge values, ties, tiny and huge scales, random rows. */
    @Test
    void vectorPathMatchesScalarTwin() {
        if (!Q8_0Codec.VECTOR_OK) return; // the codec runs the scalar code alone on this vector width
        float[] edges = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 0.5f, -0.5f, 1.5f, -2.5f,
                63.5f, -63.5f, Float.MIN_VALUE, -Float.MIN_VALUE, 8e-39f, 1e-37f, 0x1p-100f, 0x1.fffffep-101f,
                Float.MIN_NORMAL, 3e38f, -Float.MAX_VALUE, 65504f, 65520f, 1e-7f, 0.49999997f};
        Random rnd = new Random(11);
        for (int trial = 0; trial < 4000; trial++) { // single blocks mixing a few edges into a random scale
            float[] x = new float[32];
            float scale = (float) Math.pow(2, rnd.nextInt(300) - 150);
            for (int j = 0; j < 32; j++) {
                x[j] = rnd.nextInt(4) == 0 ? edges[rnd.nextInt(edges.length)]
                        : trial % 3 == 0 ? (rnd.nextInt(255) - 127) * 0.5f * scale // many exact .5 quotients
                        : (float) rnd.nextGaussian() * scale;
            }
            if (trial % 5 == 0) x[rnd.nextInt(32)] = 127 * scale; // a max that makes d exactly the scale
            assertTwins(x, 0, 32, 0);
        }
        for (int blocks : new int[]{1, 3, 127, 128, 129, 300}) {
            for (int trial = 0; trial < 20; trial++) {
                int offset = rnd.nextInt(5);
                float[] x = new float[offset + 32 * blocks];
                float scale = (float) Math.pow(10, rnd.nextInt(12) - 6);
                for (int i = offset; i < x.length; i++) {
                    x[i] = trial % 4 == 1 && rnd.nextInt(50) == 0 ? edges[rnd.nextInt(edges.length)] : (float) rnd.nextGaussian() * scale;
                }
                assertTwins(x, offset, 32 * blocks, rnd.nextInt(4));
            }
        }
    }

    private static void assertTwins(float[] x, int offset, int n, int dstOffset) {
        byte[] scalar = new byte[n / 32 * 34 + dstOffset];
        byte[] vector = new byte[scalar.length];
        Q8_0Codec.quantizeScalar(x, offset, n, MemorySegment.ofArray(scalar), dstOffset);
        Q8_0Codec.quantizeVector(x, offset, n, MemorySegment.ofArray(vector), dstOffset);
        assertArrayEquals(scalar, vector, () -> Arrays.toString(x));
    }
}
