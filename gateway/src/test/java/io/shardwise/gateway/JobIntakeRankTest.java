package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
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

/** Submit-time checks of low-rank stages: a rank or a parameter budget that does not fit a block matrix, naming the field. */
class JobIntakeRankTest {
    @TempDir
    Path tmp;
    Path models;
    CapabilityRegistry caps = new CapabilityRegistry();

    /** A low-rank method as the pruner describes it: rank, energy, budget. */
    static Technique svdLike() {
        return Technique.newBuilder().setMethod("svd").setKind(StageKind.PRUNE)
                .addParams(ParamSpec.newBuilder().setName("rank").setMin(1).setMax(1 << 20))
                .addParams(ParamSpec.newBuilder().setName("energy").setMin(0).setMax(1))
                .addParams(ParamSpec.newBuilder().setName("budget").setMin(0).setMax(1))
                .build();
    }

    @BeforeEach
    void setUp() throws Exception {
        models = tmp.resolve("models");
        TinyModelFiles.write(models, "tiny.bin", 3);
        caps.put(Capabilities.newBuilder().setService("pruner").setKind(StageKind.PRUNE).addTechniques(svdLike()).build());
    }

    SubmitPlan prepare(String stage) throws Exception {
        JobIntake intake = new JobIntake(caps, new ModelRoots(List.of(models)), new ModelStore(new FileBlobStore(tmp.resolve("blobs"))),
                tmp.resolve("out"), 0, Optional.empty(), tmp.resolve("no-demo-cache"));
        return intake.prepare("job-r", SubmitJobRequest.newBuilder().setModelUri("tiny.bin").setRecipeYaml("stages:\n  - prune: " + stage + "\n").build());
    }

    @Test
    void aRankLargerThanABlockMatrixIsRefusedNamingTheFieldAndTheMatrix() throws Exception {
        JobRejected e = assertThrows(JobRejected.class, () -> prepare("{ method: svd, rank: 9 }"));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        // dim 8: attention matrices are 8 x 8; the embedding and the head (16 x 8) are never factorized
        assertEquals("recipe_yaml: stages[0].prune.rank: 9 is larger than the rank of blk.0.attn_q.weight (8 x 8, at most 8)", e.getMessage());
        assertEquals(1, prepare("{ method: svd, rank: 8 }").stagePlans().size());
    }

    @Test
    void aMethodWithoutTheLowRankParametersIsNotChecked() throws Exception {
        caps.put(Capabilities.newBuilder().setService("pruner").setKind(StageKind.PRUNE).addTechniques(Technique.newBuilder().setMethod("other")
                .setKind(StageKind.PRUNE).addParams(ParamSpec.newBuilder().setName("rank").setMin(1).setMax(1 << 20))).build());
        assertEquals(1, prepare("{ method: other, rank: 9 }").stagePlans().size());
    }

    @Test
    void aBudgetThatLeavesRankZeroIsRefusedNamingTheFieldAndTheMatrix() throws Exception {
        JobRejected e = assertThrows(JobRejected.class, () -> prepare("{ method: svd, budget: 0.2 }"));
        assertEquals("recipe_yaml: stages[0].prune.budget: 0.2 leaves rank 0 for blk.0.attn_q.weight (8 x 8 needs at least 0.2500 for rank 1)", e.getMessage());
        assertEquals(1, prepare("{ method: svd, budget: 0.25 }").stagePlans().size());
        assertEquals(1, prepare("{ method: svd, energy: 0.9 }").stagePlans().size(), "energy always leaves rank >= 1");
    }
}
