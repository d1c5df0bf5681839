package io.shardwise.pruner;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shortgpt stage's parameters, its plan blob, and (on stories260K) a block shard that removes its block per the plan. */
class ShortGptTechniqueTest {

    static void assertRefused(Map<String, String> params, int blocks, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShortGptTechnique.removedCount(params, blocks));
        assertEquals(message, e.getMessage());
    }

    @Test
    void theCountComesFromLayersOrRatioAndLeavesABlock() {
        assertEquals(2, ShortGptTechnique.removedCount(Map.of("layers", "2"), 5));
        assertEquals(1, ShortGptTechnique.removedCount(Map.of("ratio", "0.2"), 5));
        assertEquals(0, ShortGptTechnique.removedCount(Map.of("ratio", "0.05"), 5));
        assertRefused(Map.of("layers", "5"), 5, "shortgpt: params.layers 5 would remove every block of the model's 5 (at most 4)");
        assertRefused(Map.of("layers", "0"), 5, "shortgpt: params.layers 0 is below 1");
        assertRefused(Map.of("layers", "two"), 5, "shortgpt: params.layers 'two' is not a whole number");
        assertRefused(Map.of("ratio", "0.95"), 5, "shortgpt: params.ratio 0.95 removes all 5 layers");
        assertRefused(Map.of("ratio", "x"), 5, "shortgpt: params.ratio 'x' is not a number");
        assertRefused(Map.of(), 5, "shortgpt: params.layers: missing (the number of blocks to remove; or give ratio)");
        assertRefused(Map.of("layers", "1", "ratio", "0.2"), 5, "shortgpt: params.layers and params.ratio are both given (give one)");
    }

    @Test
    void bothSizeParametersNeedThePlanAndThereIsNoCalibrationMode() {
        var t = new ShortGptTechnique(TextDatasets.withDemo("prune.calibration", Optional.empty(), Map.of(), List.of(), Path.of("no-demo")));
        Map<String, ParamSpec> specs = new LinkedHashMap<>();
        t.describe().getParamsList().forEach(p -> specs.put(p.getName(), p));
        assertTrue(specs.get("layers").getNeedsPlan() && specs.get("ratio").getNeedsPlan());
        assertTrue(specs.containsKey("calibration") && specs.containsKey("calib_samples"));
        assertFalse(specs.containsKey("calib_mode"), "block influence runs the whole model once: nothing to chain");
    }

    @Test
    void thePlanBlobRoundTripsAndAMalformedOneIsRefusedNamingIt(@TempDir Path tmp) throws Exception {
        FileBlobStore blobs = new FileBlobStore(tmp);
        ShortGptPlan plan = new ShortGptPlan(new double[]{0.5, 0.125, 0.3}, new int[]{1});
        ShortGptPlan back = ShortGptPlan.load(blobs, plan.store(blobs));
        assertArrayEquals(plan.influence(), back.influence());
        assertArrayEquals(new int[]{1}, back.removed());
        assertTrue(back.removes(1) && !back.removes(0));
        String owl = OwlPlan.uniform(3, 0.5).store(blobs);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ShortGptPlan.load(blobs, owl));
        assertTrue(e.getMessage().contains(owl) && e.getMessage().contains("not a shortgpt plan"), e.getMessage());
        String bad = blobs.put("shardwise shortgpt plan v1\n0 0.5 2\n".getBytes(StandardCharsets.UTF_8));
        e = assertThrows(IllegalArgumentException.class, () -> ShortGptPlan.load(blobs, bad));
        assertTrue(e.getMessage().contains("line 2 is malformed"), e.getMessage());
    }

    /** stories260K: the plan shard removes the block of lowest influence; that block's shard removes all of it, the others nothing. */
    @Test
    void theBlockShardsFollowThePlan(@TempDir Path tmp) throws Exception {
        PruneEval.Stored in = PruneEval.Stored.stories260K(tmp.resolve("store"));
        ShortGptTechnique t = new ShortGptTechnique(PruneEval.texts(tmp));
        Map<String, String> params = Map.of("layers", "1", "calib_samples", "8", "calib_seq_len", "128");
        var stage = StageSpec.newBuilder().setKind(StageKind.PRUNE).setMethod("shortgpt").putAllParams(params).build();
        List<String> all = in.manifest().getTensorsList().stream().map(e -> e.getName()).toList();
        ShardOutput planned = t.apply(input(in, stage, "plan", all, ""));
        ShortGptPlan plan = ShortGptPlan.load(in.store().blobs(), planned.plan());
        assertEquals(5, plan.influence().length);
        assertEquals(1, plan.removed().length);
        int removed = plan.removed()[0];
        for (int l = 0; l < 5; l++) assertTrue(plan.influence()[removed] <= plan.influence()[l], "block " + removed + " has the lowest influence");
        for (int l = 0; l < 5; l++) {
            List<String> names = TensorNames.blockTensors(l);
            ShardOutput o = t.apply(input(in, stage, "block." + l, names, planned.plan()));
            assertTrue(o.tensors().isEmpty());
            assertEquals(l == removed ? names.stream().sorted().toList() : List.of(), List.copyOf(o.removed()), "block " + l);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.apply(input(in, stage, "block.0", TensorNames.blockTensors(0), "")));
        assertTrue(e.getMessage().contains("has no plan"), e.getMessage());
    }

    static ShardInput input(PruneEval.Stored in, StageSpec stage, String id, List<String> names, String plan) throws Exception {
        var ref = ShardRef.newBuilder().setShardId(id).addAllTensors(names).build();
        return new ShardInput("job", stage, ref, in.store().tensors(in.manifest(), names), in.manifest(), in.digest(),
                in.manifest(), in.digest(), in.store(), ShardInput.Progress.NONE, Arena.ofAuto(), "", plan);
    }
}
