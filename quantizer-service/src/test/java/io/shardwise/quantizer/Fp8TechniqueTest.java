package io.shardwise.quantizer;

import io.shardwise.core.quant.Fp8Codec;
import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.ParamSpec;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;

import static io.shardwise.quantizer.Nf4TechniqueTest.input;
import static io.shardwise.quantizer.Nf4TechniqueTest.random;
import static io.shardwise.quantizer.Nf4TechniqueTest.shard;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Fp8TechniqueTest {

    @Test
    void formatAndScaleChooseTheTypeAndOverridesApplyPerTensor() {
        Map<String, Tensor> in = shard();
        ShardOutput out = new Fp8Technique().apply(input("fp8", in, Map.of()));
        for (Tensor t : out.tensors().values()) assertEquals(CodebookType.FP8_E4M3_CH, t.type(), "default e4m3 per channel");
        assertEquals(3.0, out.stats().get("quantized_tensors"));
        out = new Fp8Technique().apply(input("fp8", in, Map.of("format", "E5M2", "scale", "per_tensor",
                "overrides", "{\"ffn_down\": {\"format\": \"e4m3\", \"scale\": \"per_channel\"}}")));
        assertEquals(CodebookType.FP8_E5M2, out.tensors().get("blk.0.attn_q.weight").type());
        assertEquals(CodebookType.FP8_E4M3_CH, out.tensors().get("blk.0.ffn_down.weight").type());
        assertEquals(List.of("blk.0.ffn_down.weight: override -> FP8_E4M3_CH"), out.notes());
        for (Tensor t : out.tensors().values()) {
            Tensor whole = TensorCodecs.quantize(t.name(), t.shape(), in.get(t.name()).toFloats(), t.type());
            assertEquals(-1, whole.data().mismatch(t.data()), t.name());
        }
        // 8 bits + a f32 scale per row
        assertEquals(8 + 32.0 / 64, new Fp8Technique().apply(input("fp8", Map.of("w", in.get("blk.0.attn_q.weight")), Map.of()))
                .stats().get("bits_per_weight"), 1e-12);
    }

    @Test
    void aPerTensorScaleComesFromTheWholeTensorEvenWhenItIsReadInChunks() {
        int cols = 64, rows = Rtn.CHUNK_FLOATS / cols * 2 + 7;
        float[] w = random(cols * rows, 11);
        w[w.length - 5] = 3f; // the amax sits in the last chunk
        Tensor t = Tensor.ofFloats("w", new long[]{cols, rows}, w);
        for (Fp8Codec.Format f : Fp8Codec.Format.values()) {
            Tensor q = Fp8.quantize(t, f, Fp8.Scaling.PER_TENSOR, Arena.ofAuto());
            assertEquals(Fp8.type(f, Fp8.Scaling.PER_TENSOR), q.type());
            assertEquals(-1, TensorCodecs.quantize("w", t.shape(), w, q.type()).data().mismatch(q.data()), f.name());
            assertEquals(3f / f.max, q.data().get(Tensor.F32_LE, 0), "row 0 carries the tensor's scale");
            assertEquals(3f, q.toFloats()[w.length - 5], 3f * 1e-6f);
            Tensor ch = Fp8.quantize(t, f, Fp8.Scaling.PER_CHANNEL, Arena.ofAuto());
            assertEquals(-1, TensorCodecs.quantize("w", t.shape(), w, ch.type()).data().mismatch(ch.data()), f.name() + " per channel");
        }
    }

    @Test
    void describeListsAllowedValuesAndBadInputIsRefusedNamingTheField() {
        var specs = new Fp8Technique().describe().getParamsList();
        assertEquals(List.of("format", "scale", "ignore", "overrides", "fallback"), specs.stream().map(ParamSpec::getName).toList());
        assertEquals(List.of("e4m3", "e5m2"), specs.get(0).getAllowedList());
        assertEquals(List.of("per_tensor", "per_channel"), specs.get(1).getAllowedList());
        Map<String, Tensor> in = shard();
        var e = assertThrows(IllegalArgumentException.class, () -> new Fp8Technique().apply(input("fp8", in, Map.of("format", "e3m4"))));
        assertEquals("fp8: params.format 'e3m4' is not one of [e4m3, e5m2]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Fp8Technique().apply(input("fp8", in, Map.of("scale", "per_group"))));
        assertEquals("fp8: params.scale 'per_group' is not one of [per_tensor, per_channel]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Fp8Technique().apply(input("fp8", in, Map.of("overrides", "{\"attn\": {\"scale\": \"row\"}}"))));
        assertEquals("fp8: params.overrides.attn.scale 'row' is not one of [per_tensor, per_channel]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Fp8Technique().apply(input("fp8", in, Map.of("overrides", "{\"attn\": {\"bits\": 4}}"))));
        assertTrue(e.getMessage().startsWith("fp8: params.overrides.attn.bits is not a parameter"), e.getMessage());
        float[] w = random(64 * 3, 12);
        w[100] = Float.NEGATIVE_INFINITY;
        Map<String, Tensor> bad = Map.of("blk.1.ffn_up.weight", Tensor.ofFloats("blk.1.ffn_up.weight", new long[]{64, 3}, w));
        e = assertThrows(IllegalArgumentException.class, () -> new Fp8Technique().apply(input("fp8", bad, Map.of("scale", "per_tensor"))));
        assertEquals("blk.1.ffn_up.weight: FP8: value -Infinity at row 1, column 36 is not finite", e.getMessage());
    }
}
