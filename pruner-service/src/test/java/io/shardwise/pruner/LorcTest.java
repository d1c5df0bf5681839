package io.shardwise.pruner;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LorcTest {

    @Test
    void compensationRemovesTheLeadingDirectionsOfTheQuantizationError() {
        int out = 48, in = 64;
        float[] w = TruncatedSvdTest.gaussian(out * in, 21);
        for (TensorType type : new TensorType[]{GgmlType.Q4_0, ChannelIntType.I4_ASYM_CH}) {
            double previous = Double.MAX_VALUE;
            for (int r : new int[]{1, 8, 24, 48}) {
                Lorc.Result res = Lorc.compensate("w", w, out, in, type, new RankSelection.Fixed(r));
                float[] q = TensorCodecs.dequantize(res.quantized());
                float[] ba = res.factors().product();
                double direct = 0, quant = 0;
                for (int i = 0; i < w.length; i++) {
                    direct += Math.pow((double) w[i] - q[i] - ba[i], 2);
                    quant += Math.pow((double) w[i] - q[i], 2);
                }
                assertEquals(type, res.quantized().type());
                assertEquals(quant, res.quantError(), 1e-9 * quant);
                assertEquals(res.compensatedError(), direct, 1e-4 * quant + 1e-9, type + " rank " + r + ": ||W - Q(W) - BA||^2 is the error's tail energy");
                assertTrue(res.compensatedError() < previous, type + ": a higher rank compensates more");
                previous = res.compensatedError();
                if (r == 1) assertTrue(res.compensatedError() < res.quantError());
            }
            assertEquals(0, previous, 1e-6, "full rank restores W");
        }
    }

    @Test
    void theQuantizedWeightIsPlainRoundToNearest() {
        int out = 8, in = 32;
        float[] w = TruncatedSvdTest.gaussian(out * in, 22);
        Lorc.Result res = Lorc.compensate("blk.0.attn_q.weight", w, out, in, GgmlType.Q4_0, new RankSelection.Fixed(2));
        assertArrayEquals(TensorCodecs.dequantize(TensorCodecs.quantize("x", new long[]{in, out}, w, GgmlType.Q4_0)), TensorCodecs.dequantize(res.quantized()));
        assertEquals("blk.0.attn_q.weight", res.quantized().name());
        assertArrayEquals(new long[]{in, out}, res.quantized().shape());
    }
}
