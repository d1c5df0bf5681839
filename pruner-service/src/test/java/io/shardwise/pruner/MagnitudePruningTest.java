package io.shardwise.pruner;

import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MagnitudePruningTest {

    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    /** Asserts exactly {@code m - n} zeros in every full group of m along each row, and that survivors are the largest. */
    static void assertNOfM(float[] before, float[] after, int rowLength, int n, int m, String what) {
        for (int row = 0; row < after.length / rowLength; row++) {
            for (int g = 0; g + m <= rowLength; g += m) {
                int base = row * rowLength + g;
                int zeros = 0;
                float smallestKept = Float.MAX_VALUE, largestDropped = 0;
                for (int j = 0; j < m; j++) {
                    if (after[base + j] == 0f) {
                        zeros++;
                        largestDropped = Math.max(largestDropped, Math.abs(before[base + j]));
                    } else {
                        assertEquals(before[base + j], after[base + j], 0f, "kept weights are unchanged");
                        smallestKept = Math.min(smallestKept, Math.abs(before[base + j]));
                    }
                }
                assertEquals(m - n, zeros, what + " row " + row + " group " + g / m);
                assertTrue(largestDropped <= smallestKept, what + ": a dropped weight was larger than a kept one");
            }
        }
    }

    @Test
    void twoOfFourLeavesExactlyTwoZerosInEveryGroup() {
        float[] w = random(64 * 16, 1);
        float[] before = w.clone();
        MagnitudePruning.Result r = MagnitudePruning.prune(w, 64, MagnitudePruning.parse("2:4", 0));
        assertNOfM(before, w, 64, 2, 4, "2:4");
        assertEquals(w.length / 2, r.zeros());
        assertEquals(0, r.denseTail());
    }

    @Test
    void fourOfEightWorksAndARaggedRowTailStaysDense() {
        float[] w = random(20 * 3, 2);
        float[] before = w.clone();
        MagnitudePruning.Result r = MagnitudePruning.prune(w, 20, new MagnitudePruning.NOfM(1, 8));
        assertNOfM(before, w, 20, 1, 8, "1:8");
        assertEquals(3 * 4, r.denseTail(), "20 = 2*8 + 4: four dense weights per row");
        for (int row = 0; row < 3; row++) for (int j = 16; j < 20; j++) assertEquals(before[row * 20 + j], w[row * 20 + j]);
    }

    @Test
    void unstructuredHitsTheTargetExactlyAndDropsTheSmallest() {
        for (double s : new double[]{0.0, 0.1, 0.5, 0.9}) {
            float[] w = random(96 * 40, 3);
            float[] before = w.clone();
            MagnitudePruning.Result r = MagnitudePruning.prune(w, 96, new MagnitudePruning.Unstructured(s));
            assertEquals(Math.round(s * w.length), r.zeros(), "sparsity " + s);
            float maxDropped = 0, minKept = Float.MAX_VALUE;
            for (int i = 0; i < w.length; i++) {
                if (w[i] == 0) maxDropped = Math.max(maxDropped, Math.abs(before[i]));
                else minKept = Math.min(minKept, Math.abs(before[i]));
            }
            assertTrue(maxDropped <= minKept, "sparsity " + s);
        }
    }

    @Test
    void tiesAtTheThresholdStillGiveTheExactCount() {
        float[] w = new float[100];
        java.util.Arrays.fill(w, 0.5f);
        assertEquals(30, MagnitudePruning.prune(w, 10, new MagnitudePruning.Unstructured(0.3)).zeros());
    }

    @Test
    void badParametersAreRefusedNamingTheParameter() {
        var e = assertThrows(IllegalArgumentException.class, () -> MagnitudeTechnique.parse("4:2", "0.5"));
        assertTrue(e.getMessage().contains("params.pattern") && e.getMessage().contains("4:2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> MagnitudeTechnique.parse("blocky", "0.5"));
        assertTrue(e.getMessage().contains("params.pattern") && e.getMessage().contains("'blocky'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> MagnitudeTechnique.parse("unstructured", "1.0"));
        assertTrue(e.getMessage().contains("params.sparsity"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> MagnitudeTechnique.parse("unstructured", "half"));
        assertTrue(e.getMessage().contains("params.sparsity 'half'"), e.getMessage());
    }

    @Test
    void theTechniquePrunesOnlyBlockMatricesAndKeepsTheirType() {
        Map<String, Tensor> shard = new LinkedHashMap<>();
        shard.put("blk.3.attn_norm.weight", Tensor.ofFloats("blk.3.attn_norm.weight", new long[]{64}, random(64, 4)));
        shard.put("blk.3.attn_q.weight", Tensor.ofFloats("blk.3.attn_q.weight", new long[]{64, 64}, random(64 * 64, 5)));
        float[] up = random(64 * 32, 6);
        shard.put("blk.3.ffn_up.weight", TensorCodecs.quantize("blk.3.ffn_up.weight", new long[]{64, 32}, up, GgmlType.Q8_0));
        shard.put("token_embd.weight", Tensor.ofFloats("token_embd.weight", new long[]{64, 8}, random(64 * 8, 7)));
        ShardOutput out = new MagnitudeTechnique().apply(input(shard, Map.of("pattern", "2:4")));
        assertEquals(List.of("blk.3.attn_q.weight", "blk.3.ffn_up.weight"), List.copyOf(out.tensors().keySet()));
        assertEquals(GgmlType.F32, out.tensors().get("blk.3.attn_q.weight").type());
        assertEquals(GgmlType.Q8_0, out.tensors().get("blk.3.ffn_up.weight").type(), "Q8_0 holds exact zeros");
        assertNOfM(shard.get("blk.3.ffn_up.weight").toFloats(), out.tensors().get("blk.3.ffn_up.weight").toFloats(), 64, 2, 4, "Q8_0 ffn_up");
        assertEquals((64 * 64 + 64 * 32) / 2.0, out.stats().get("zeros"));
        assertEquals(64 * 64 + 64 * 32.0, out.stats().get("elements"));
    }

    @Test
    void stories260kTwoOfFourOnEveryBlockMatrix() throws Exception {
        Path dir = Path.of(System.getProperty("shardwise.shared", "../shared"), "data", "stories260K");
        Path bin = dir.resolve("stories260K.bin");
        Assumptions.assumeTrue(Files.exists(bin), () -> {
            System.out.println("skipped: " + bin + " is absent (shared data not mounted)");
            return "shared data absent: " + bin;
        });
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel m = Llama2cCheckpoint.read(bin, dir.resolve("tok512.bin"), arena);
            for (int l = 0; l < m.config().nLayers(); l++) {
                Map<String, Tensor> shard = new LinkedHashMap<>();
                for (String n : TensorNames.blockTensors(l)) shard.put(n, m.tensor(n));
                ShardOutput out = new MagnitudeTechnique().apply(input(shard, Map.of("pattern", "2:4")));
                assertEquals(7, out.tensors().size());
                for (String n : TensorNames.blockMatrices(l)) {
                    Tensor t = out.tensors().get(n);
                    assertNOfM(m.tensor(n).toFloats(), t.toFloats(), t.cols(), 2, 4, n);
                }
                assertEquals(0.5, out.stats().get("zeros") / out.stats().get("elements"), 0.0);
                assertFalse(out.notes().stream().anyMatch(s -> s.contains("dense")), "172 and 64 are multiples of 4");
            }
        }
    }

    private static ShardInput input(Map<String, Tensor> tensors, Map<String, String> params) {
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.PRUNE).setMethod("magnitude").putAllParams(params).build();
        return new ShardInput("job", stage, ShardRef.newBuilder().setShardId("block.3").build(), tensors, null, "", null, "", null, ShardInput.Progress.NONE);
    }
}
