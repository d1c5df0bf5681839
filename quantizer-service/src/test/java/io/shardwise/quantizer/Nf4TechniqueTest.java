package io.shardwise.quantizer;

import io.shardwise.core.quant.Nf4Codec;
import io.shardwise.core.tensor.CodebookType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Nf4TechniqueTest {

    static float[] random(int n, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.05);
        return v;
    }

    static ShardInput input(String method, Map<String, Tensor> tensors, Map<String, String> params) {
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.QUANTIZE).setMethod(method).putAllParams(params).build();
        return new ShardInput("job", stage, ShardRef.newBuilder().setShardId("block.0").build(), tensors, null, "", null, "", null, ShardInput.Progress.NONE);
    }

    static Map<String, Tensor> shard() {
        Map<String, Tensor> shard = new LinkedHashMap<>();
        shard.put("blk.0.attn_norm.weight", Tensor.ofFloats("blk.0.attn_norm.weight", new long[]{64}, random(64, 4)));
        shard.put("blk.0.attn_q.weight", Tensor.ofFloats("blk.0.attn_q.weight", new long[]{64, 64}, random(64 * 64, 5)));
        shard.put("blk.0.attn_k.weight", Tensor.ofFloats("blk.0.attn_k.weight", new long[]{64, 32}, random(64 * 32, 6)));
        shard.put("blk.0.ffn_down.weight", Tensor.ofFloats("blk.0.ffn_down.weight", new long[]{172, 64}, random(172 * 64, 7)));
        return shard;
    }

    @Test
    void everyMatrixBecomesNf4AnyRowLengthWithoutFallbackAndIgnoreIsHonoured() {
        Map<String, Tensor> in = shard();
        ShardOutput out = new Nf4Technique().apply(input("nf4", in, Map.of("ignore", "attn_k")));
        assertEquals(List.of("blk.0.attn_q.weight", "blk.0.ffn_down.weight"), List.copyOf(out.tensors().keySet()));
        for (Tensor t : out.tensors().values()) {
            assertEquals(CodebookType.NF4, t.type());
            // the technique writes what the codec writes for the whole tensor
            Tensor whole = TensorCodecs.quantize(t.name(), t.shape(), in.get(t.name()).toFloats(), CodebookType.NF4);
            assertEquals(-1, whole.data().mismatch(t.data()), t.name());
        }
        assertEquals(2.0, out.stats().get("quantized_tensors"));
        assertEquals(1.0, out.stats().get("ignored_tensors"));
        // 4 bits + an int8 absmax per 64 + two f32 per row: q (64 wide) 4.25 + 1, ffn_down (172 wide) 4 + 24/172 + 64/172
        double bpw = (64 * 64 * (4 + 8.0 / 64 + 64.0 / 64) + 172 * 64 * (4 + 24.0 / 172 + 64.0 / 172)) / (64 * 64 + 172 * 64);
        assertEquals(bpw, out.stats().get("bits_per_weight"), 1e-9);
        assertEquals(4 + 24.0 / 172 + 64.0 / 172, QLoraNf4.bitsPerWeight(172), 1e-12);
        assertEquals(List.of("blk.0.attn_k.weight: ignored, kept as F32"), out.notes());
    }

    @Test
    void chunkedQuantizationMatchesTheWholeTensor() {
        int cols = 100, rows = Rtn.CHUNK_FLOATS / cols * 2 + 3;
        float[] w = random(cols * rows, 8);
        Tensor t = Tensor.ofFloats("w", new long[]{cols, rows}, w);
        Tensor chunked = QLoraNf4.quantize(t, Arena.ofAuto());
        assertEquals(-1, TensorCodecs.quantize("w", t.shape(), w, CodebookType.NF4).data().mismatch(chunked.data()));
        // every value decodes onto its block's grid
        float[] y = chunked.toFloats();
        float a = Nf4Codec.blockAbsmax(chunked.data(), rows - 1, cols, 1);
        for (int j = 64; j < cols; j++) {
            float v = y[(rows - 1) * cols + j];
            boolean onGrid = false;
            for (float l : Nf4Codec.LEVELS) onGrid |= v == l * a;
            assertTrue(onGrid, "col " + j);
        }
    }

    @Test
    void describeListsTheSharedRulesAndBadInputIsRefusedNamingTheField() {
        List<String> names = new Nf4Technique().describe().getParamsList().stream().map(ParamSpec::getName).toList();
        assertEquals(List.of("ignore", "overrides", "fallback"), names);
        var e = assertThrows(IllegalArgumentException.class, () -> new Nf4Technique().apply(input("nf4", shard(), Map.of("overrides", "{\"attn_q\": {\"bits\": 8}}"))));
        assertTrue(e.getMessage().contains("params.overrides.attn_q.bits"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Nf4Technique().apply(input("nf4", shard(), Map.of("ignore", "ffn_(down"))));
        assertTrue(e.getMessage().contains("params.ignore entry 'ffn_(down'"), e.getMessage());
        float[] w = random(64 * 4, 9);
        w[2 * 64 + 10] = Float.NaN;
        Map<String, Tensor> bad = Map.of("blk.0.attn_v.weight", Tensor.ofFloats("blk.0.attn_v.weight", new long[]{64, 4}, w));
        e = assertThrows(IllegalArgumentException.class, () -> new Nf4Technique().apply(input("nf4", bad, Map.of())));
        assertEquals("blk.0.attn_v.weight (rows from 0): NF4: value NaN at row 2, column 10 is not finite", e.getMessage());
    }
}
