package io.shardwise.pruner;

import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.Technique;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LowRankTechniqueTest {

    /** Block 2 of a dim-64 model with 32-wide k/v and a 96-wide MLP: a norm and the seven matrices. */
    static Map<String, Tensor> block() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put(TensorNames.attnNorm(2), Tensor.ofFloats(TensorNames.attnNorm(2), new long[]{64}, TruncatedSvdTest.gaussian(64, 1)));
        long seed = 2;
        for (String n : TensorNames.blockMatrices(2)) {
            long[] shape = n.contains("attn_k") || n.contains("attn_v") ? new long[]{64, 32}
                    : n.contains("ffn_down") ? new long[]{96, 64} : n.contains("ffn_") ? new long[]{64, 96} : new long[]{64, 64};
            m.put(n, Tensor.ofFloats(n, shape, TruncatedSvdTest.gaussian((int) (shape[0] * shape[1]), seed++)));
        }
        return m;
    }

    static ShardInput input(String method, Map<String, Tensor> tensors, Map<String, String> params) {
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.PRUNE).setMethod(method).putAllParams(params).build();
        return new ShardInput("job", stage, ShardRef.newBuilder().setShardId("block.2").build(), tensors, null, "", null, "", null, ShardInput.Progress.NONE);
    }

    @Test
    void svdReplacesEveryBlockMatrixByFactorsOfTheRuntimeShapes() throws Exception {
        Map<String, Tensor> in = block();
        ShardOutput out = new SvdTechnique().apply(input("svd", in, Map.of("budget", "0.5")));
        assertEquals(14, out.tensors().size(), "two factors per matrix, no weight, no norm");
        for (String n : TensorNames.blockMatrices(2)) {
            Tensor w = in.get(n), a = out.tensors().get(TensorNames.loraA(n)), b = out.tensors().get(TensorNames.loraB(n));
            int r = new RankSelection.Budget(0.5).rankFor(w.cols(), w.rows());
            assertArrayEquals(new long[]{w.cols(), r}, a.shape(), n + ".lora_a is [in, rank]");
            assertArrayEquals(new long[]{r, w.rows()}, b.shape(), n + ".lora_b is [rank, out]");
            assertEquals(GgmlType.F16, a.type(), "factors default to F16");
            assertFalse(out.tensors().containsKey(n), "the weight is dropped: the pair replaces it");
        }
        assertEquals(7.0, out.stats().get("factorized_tensors"));
        assertEquals(64 * 64 * 2 + 64 * 32 * 2 + 64 * 96 * 3.0, out.stats().get("weight_params"));
        assertEquals(16 * 128 * 2 + 10 * 96 * 2 + 19 * 160 * 3.0, out.stats().get("kept_params"));
    }

    @Test
    void storedFactorsComputeTheTruncatedSvd() throws Exception {
        Map<String, Tensor> in = block();
        ShardOutput out = new SvdTechnique().apply(input("svd", in, Map.of("rank", "8", "factor_type", "F32")));
        String q = TensorNames.attnQ(2);
        float[] a = out.tensors().get(TensorNames.loraA(q)).toFloats(), b = out.tensors().get(TensorNames.loraB(q)).toFloats();
        float[] stored = new LowRankFactors(64, 64, 8, a, b, new double[8]).product();
        LowRankFactors direct = TruncatedSvd.factorize(in.get(q).toFloats(), 64, 64, new RankSelection.Fixed(8));
        assertArrayEquals(direct.product(), stored, 1e-5f);
        assertEquals(direct.tailEnergy(), TruncatedSvdTest.squaredError(in.get(q).toFloats(), stored), 1e-3 * direct.tailEnergy());
    }

    @Test
    void aLayerWhoseFactorsWouldNotBeSmallerStaysDense() throws Exception {
        ShardOutput out = new SvdTechnique().apply(input("svd", block(), Map.of("energy", "1.0")));
        assertEquals(0.0, out.stats().get("factorized_tensors"), "full rank of a Gaussian matrix costs more than the weight");
        assertEquals(7.0, out.stats().get("dense_tensors"));
        assertTrue(out.tensors().isEmpty());
        assertTrue(out.notes().stream().anyMatch(n -> n.contains("kept dense")), out.notes().toString());
    }

    @Test
    void lorcKeepsTheQuantizedWeightBesideTheFactorsWithAFallbackForRaggedRows() throws Exception {
        Map<String, Tensor> in = block();
        ShardOutput out = new LorcTechnique().apply(input("lorc", in, Map.of("type", "Q4_0", "rank", "4")));
        assertEquals(21, out.tensors().size(), "weight + two factors per matrix");
        assertEquals(GgmlType.Q4_0, out.tensors().get(TensorNames.attnQ(2)).type());
        assertEquals(GgmlType.Q4_0, out.tensors().get(TensorNames.ffnDown(2)).type(), "96 is a multiple of 32");
        assertArrayEquals(new long[]{64, 4}, out.tensors().get(TensorNames.loraA(TensorNames.attnQ(2))).shape());
        assertTrue(out.stats().get("compensated_error") < out.stats().get("quant_error"));
        Map<String, Tensor> ragged = new LinkedHashMap<>();
        ragged.put(TensorNames.ffnDown(2), Tensor.ofFloats(TensorNames.ffnDown(2), new long[]{72, 64}, TruncatedSvdTest.gaussian(72 * 64, 9)));
        out = new LorcTechnique().apply(input("lorc", ragged, Map.of()));
        assertEquals(ChannelIntType.I4_ASYM_CH, out.tensors().get(TensorNames.ffnDown(2)).type());
        assertTrue(out.notes().getFirst().contains("fallback I4_ASYM_CH"), out.notes().toString());
        assertEquals(new RankSelection.Budget(LorcTechnique.DEFAULT_BUDGET).rankFor(72, 64),
                out.tensors().get(TensorNames.loraA(TensorNames.ffnDown(2))).shape()[1], "LoRC's default budget is 0.1");
    }

    @Test
    void badParametersAreRefusedNamingTheParameter() {
        Map<String, Tensor> in = block();
        Object[][] cases = {
                {new SvdTechnique(), Map.of("rank", "33"), "svd: params.rank 33 is larger than the rank of " + TensorNames.attnK(2) + " (32 x 64, at most 32)"},
                {new SvdTechnique(), Map.of("rank", "0"), "svd: params.rank 0"},
                {new SvdTechnique(), Map.of("budget", "0.01"), "svd: params.budget 0.01 leaves rank 0 for " + TensorNames.attnQ(2) + " (64 x 64 needs at least 0.03125 for rank 1)"},
                {new SvdTechnique(), Map.of("budget", "1.5"), "svd: params.budget 1.5 is outside (0, 1)"},
                {new SvdTechnique(), Map.of("energy", "0"), "svd: params.energy 0.0 is outside (0, 1]"},
                {new SvdTechnique(), Map.of("rank", "4", "energy", "0.9"), "svd: params.energy: set only one of rank, energy, budget"},
                {new SvdTechnique(), Map.of("factor_type", "Q4_0"), "svd: params.factor_type 'Q4_0' is not one of [F16, F32, BF16]"},
                {new LorcTechnique(), Map.of("type", "Q4_K"), "lorc: params.type 'Q4_K' is not one of"},
                {new LorcTechnique(), Map.of("fallback", "Q4_0"), "lorc: params.fallback 'Q4_0' is not one of"},
                {new LorcTechnique(), Map.of("rank", "65"), "lorc: params.rank 65 is larger than the rank of " + TensorNames.attnQ(2)},
        };
        for (Object[] c : cases) {
            LowRankTechnique t = (LowRankTechnique) c[0];
            @SuppressWarnings("unchecked") Map<String, String> p = (Map<String, String>) c[1];
            var e = assertThrows(IllegalArgumentException.class, () -> t.apply(input(t.method(), in, p)), p.toString());
            assertTrue(e.getMessage().startsWith((String) c[2]), p + ": " + e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> AsvdTechnique.alpha(Map.of("alpha", "2")));
        assertEquals("asvd: params.alpha 2 is outside [0, 1]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AsvdTechnique.alpha(Map.of("alpha", "half")));
        assertEquals("asvd: params.alpha 'half' is not a number", e.getMessage());
    }

    @Test
    void aModelThatIsAlreadyFactorizedIsRefused() {
        Map<String, Tensor> in = block();
        String q = TensorNames.attnQ(2);
        in.put(TensorNames.loraA(q), Tensor.ofFloats(TensorNames.loraA(q), new long[]{64, 2}, new float[128]));
        in.put(TensorNames.loraB(q), Tensor.ofFloats(TensorNames.loraB(q), new long[]{2, 64}, new float[128]));
        var e = assertThrows(IllegalArgumentException.class, () -> new SvdTechnique().apply(input("svd", in, Map.of())));
        assertTrue(e.getMessage().contains(q + " already has low-rank factors"), e.getMessage());
    }

    @Test
    void theEmbeddingAndTheHeadAreLeftAlone() throws Exception {
        Map<String, Tensor> head = new LinkedHashMap<>();
        head.put(TensorNames.OUTPUT_NORM, Tensor.ofFloats(TensorNames.OUTPUT_NORM, new long[]{64}, TruncatedSvdTest.gaussian(64, 3)));
        head.put(TensorNames.OUTPUT, Tensor.ofFloats(TensorNames.OUTPUT, new long[]{64, 512}, TruncatedSvdTest.gaussian(64 * 512, 4)));
        assertTrue(new SvdTechnique().apply(input("svd", head, Map.of())).tensors().isEmpty());
        assertTrue(new LorcTechnique().apply(input("lorc", head, Map.of())).tensors().isEmpty());
    }

    @Test
    void capabilitiesListTheRankParametersAndTheMethods() {
        for (LowRankTechnique t : List.of(new SvdTechnique(), new LorcTechnique(), new AsvdTechnique(null))) {
            Technique d = t.describe();
            assertEquals(StageKind.PRUNE, d.getKind());
            List<String> names = d.getParamsList().stream().map(ParamSpec::getName).toList();
            assertTrue(names.containsAll(List.of("rank", "energy", "budget", "factor_type")), t.method() + ": " + names);
        }
        assertEquals(List.of("svd", "lorc", "asvd"), List.of(new SvdTechnique().method(), new LorcTechnique().method(), new AsvdTechnique(null).method()));
        assertTrue(new AsvdTechnique(null).describe().getParamsList().stream().anyMatch(p -> p.getName().equals("calibration")));
        ParamSpec type = new LorcTechnique().describe().getParamsList().stream().filter(p -> p.getName().equals("type")).findFirst().orElseThrow();
        assertEquals(32, type.getRowMultipleOrThrow("Q4_0"), "the gateway checks rows against the type unless fallback is set");
    }
}
