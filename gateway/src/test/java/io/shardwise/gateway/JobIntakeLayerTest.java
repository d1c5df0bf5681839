package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.SubmitJobRequest;
import io.shardwise.proto.v1.Technique;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Submit-time checks of layer-removal stages (ShortGPT) against the model's 2 blocks, naming the field. */
class JobIntakeLayerTest {
    @TempDir
    Path tmp;
    Path models;
    CapabilityRegistry caps = new CapabilityRegistry();

    /** A layer-removal method as the pruner describes it: layers and ratio, both plan parameters. */
    static Technique shortGptLike() {
        return Technique.newBuilder().setMethod("shortgpt").setKind(StageKind.PRUNE)
                .addParams(ParamSpec.newBuilder().setName("layers").setMin(1).setMax(4096).setNeedsPlan(true))
                .addParams(ParamSpec.newBuilder().setName("ratio").setMin(0).setMax(0.99).setNeedsPlan(true))
                .build();
    }

    @BeforeEach
    void setUp() throws Exception {
        models = tmp.resolve("models");
        TinyModelFiles.write(models, "tiny.bin", 3);
        caps.put(Capabilities.newBuilder().setService("pruner").setKind(StageKind.PRUNE).addTechniques(shortGptLike())
                .addTechniques(Technique.newBuilder().setMethod("magnitude").setKind(StageKind.PRUNE)
                        .addParams(ParamSpec.newBuilder().setName("sparsity").setMin(0).setMax(0.99))).build());
    }

    SubmitPlan prepare(String... stages) throws Exception {
        JobIntake intake = new JobIntake(caps, new ModelRoots(List.of(models)), new ModelStore(new FileBlobStore(tmp.resolve("blobs"))),
                tmp.resolve("out"), 0, Optional.empty(), tmp.resolve("no-demo-cache"));
        StringBuilder yaml = new StringBuilder("stages:\n");
        for (String s : stages) yaml.append("  - prune: ").append(s).append('\n');
        return intake.prepare("job-l", SubmitJobRequest.newBuilder().setModelUri("tiny.bin").setRecipeYaml(yaml.toString()).build());
    }

    void assertRefused(String stage, String message) {
        JobRejected e = assertThrows(JobRejected.class, () -> prepare(stage));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertEquals(message, e.getMessage());
    }

    @Test
    void aRemovalOfEveryBlockIsRefusedNamingTheField() throws Exception {
        assertRefused("{ method: shortgpt, layers: 2 }", "recipe_yaml: stages[0].prune.layers: 2 would remove every block of the model's 2 (at most 1)");
        assertRefused("{ method: shortgpt, layers: 7 }", "recipe_yaml: stages[0].prune.layers: 7 would remove every block of the model's 2 (at most 1)");
        assertRefused("{ method: shortgpt, ratio: 0.75 }", "recipe_yaml: stages[0].prune.ratio: 0.75 (2 blocks) would remove every block of the model's 2 (at most 1)");
        assertRefused("{ method: shortgpt, layers: 1.5 }", "recipe_yaml: stages[0].prune.layers: '1.5' is not a whole number");
        assertRefused("{ method: shortgpt }", "recipe_yaml: stages[0].prune.layers: missing (the number of blocks to remove; or give ratio)");
        assertRefused("{ method: shortgpt, layers: 1, ratio: 0.5 }", "recipe_yaml: stages[0].prune.ratio: give layers or ratio, not both");
    }

    @Test
    void theStagesAfterARemovalArePlannedOnTheRenumberedBlocks() throws Exception {
        SubmitPlan p = prepare("{ method: shortgpt, layers: 1 }", "{ method: magnitude, sparsity: 0.5 }");
        StagePlan after = p.stagePlans().get(1);
        assertEquals(List.of("embed", "block.0", "head"), after.getShardsList().stream().map(s -> s.getShardId()).toList());
        assertTrue(after.getShardsList().stream().flatMap(s -> s.getTensorsList().stream()).noneMatch(n -> n.startsWith("blk.1.")), after.toString());
        assertEquals(4, p.stagePlans().getFirst().getShardsCount(), "the removal stage itself runs on both blocks");
        JobRejected e = assertThrows(JobRejected.class, () -> prepare("{ method: shortgpt, layers: 1 }", "{ method: shortgpt, layers: 1 }"));
        assertEquals("recipe_yaml: stages[1].prune.layers: 1 would remove every block of the model's 1 (at most 0)", e.getMessage());
    }

    @Test
    void aRemovalThatLeavesABlockIsPlannedWithItsPlanShardFirst() throws Exception {
        for (String stage : List.of("{ method: shortgpt, layers: 1 }", "{ method: shortgpt, ratio: 0.5 }")) {
            StagePlan p = prepare(stage).stagePlans().getFirst();
            assertTrue(p.hasPlanShard(), stage + ": the plan shard picks the blocks");
            assertEquals(4, p.getShardsCount(), "embed, block.0, block.1, head");
        }
    }
}
