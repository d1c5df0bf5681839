package io.shardwise.core.quant;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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
}
