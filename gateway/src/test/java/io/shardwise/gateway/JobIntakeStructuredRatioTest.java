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

/**
 * Submit-time refusals of structured and N:M pruning parameters against the tiny model (2 heads over 2 kv heads,
 * feed_forward_length 16), naming the field: techniques described like the pruner's (ratio and sparsity at most 0.99, pattern an enumeration of N:M with N < M).
 */
class JobIntakeStructuredRatioTest {
    @TempDir
    Path tmp;
    Path models;
    CapabilityRegistry caps = new CapabilityRegistry();

    static ParamSpec ratio() {
        return ParamSpec.newBuilder().setName("ratio").setDefaultValue("0.25").setMin(0).setMax(0.99).build();
    }

    @BeforeEach
    void setUp() throws Exception {
        models = tmp.resolve("models");
        TinyModelFiles.write(models, "tiny.bin", 3);
        caps.put(Capabilities.newBuilder().setService("pruner").setKind(StageKind.PRUNE)
                .addTechniques(Technique.newBuilder().setMethod("attention_heads").setKind(StageKind.PRUNE).addParams(ratio()))
                .addTechniques(Technique.newBuilder().setMethod("mlp_channels").setKind(StageKind.PRUNE).addParams(ratio())
                        .addParams(ParamSpec.newBuilder().setName("multiple_of").setDefaultValue("1").setMin(1).setMax(4096)))
                .addTechniques(Technique.newBuilder().setMethod("magnitude").setKind(StageKind.PRUNE)
                        .addParams(ParamSpec.newBuilder().setName("sparsity").setDefaultValue("0.5").setMin(0).setMax(0.99))
                        .addParams(ParamSpec.newBuilder().setName("pattern").setDefaultValue("unstructured")
                                .addAllAllowed(List.of("unstructured", "1:2", "1:4", "2:4", "3:4", "4:8"))))
                .build());
        caps.put(Capabilities.newBuilder().setService("quantizer").setKind(StageKind.QUANTIZE)
                .addTechniques(Technique.newBuilder().setMethod("grouped").setKind(StageKind.QUANTIZE)
                        .addParams(ParamSpec.newBuilder().setName("group_size").setDefaultValue("8").setDividesRowsUnless("fallback"))
                        .addParams(ParamSpec.newBuilder().setName("fallback")))
                .build());
    }

    SubmitPlan prepare(String stage) throws Exception {
        return prepareYaml("stages:\n  - prune: " + stage + "\n");
    }

    SubmitPlan prepareYaml(String yaml) throws Exception {
        JobIntake intake = new JobIntake(caps, new ModelRoots(List.of(models)), new ModelStore(new FileBlobStore(tmp.resolve("blobs"))),
                tmp.resolve("out"), 0, Optional.empty(), tmp.resolve("no-demo-cache"));
        return intake.prepare("job-s", SubmitJobRequest.newBuilder().setModelUri("tiny.bin").setRecipeYaml(yaml).build());
    }

    void assertRefused(String stage, String message) {
        JobRejected e = assertThrows(JobRejected.class, () -> prepare(stage));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertEquals(message, e.getMessage());
    }

    @Test
    void aHeadRatioThatRemovesEveryHeadIsRefusedNamingTheField() throws Exception {
        assertRefused("{ method: attention_heads, ratio: 0.75 }", "recipe_yaml: stages[0].prune.ratio: 0.75 would remove every attention head of a layer"
                + " (heads go in whole kv groups: 2 of the model's 2 kv head groups, 2 heads)");
        assertEquals(1, prepare("{ method: attention_heads, ratio: 0.5 }").stagePlans().size()); // one of the two groups: fine
    }

    @Test
    void aChannelRatioThatRemovesEveryChannelIsRefusedNamingTheField() throws Exception {
        assertRefused("{ method: mlp_channels, ratio: 0.98 }", "recipe_yaml: stages[0].prune.ratio: 0.98 would remove every MLP channel of a layer (the model's feed_forward_length is 16)");
        assertRefused("{ method: mlp_channels, ratio: 0.25, multiple_of: 32 }",
                "recipe_yaml: stages[0].prune.ratio: 0.25 with multiple_of 32 would remove every MLP channel of a layer (the model's feed_forward_length is 16)");
        assertEquals(1, prepare("{ method: mlp_channels, ratio: 0.5 }").stagePlans().size());
    }

    /** Half the heads go (2 heads of 4 -> 1): attn_output's rows are 4 wide after it, so a later group size 8 no longer fits; the same for MLP channels. */
    @Test
    void stagesAfterStructuredPruningAreCheckedOnTheNarrowerRows() throws Exception {
        String quantize = "  - quantize: { method: grouped, group_size: 8 }\n";
        assertEquals(1, prepareYaml("stages:\n" + quantize).stagePlans().size()); // every source row is 8 or 16 wide
        JobRejected e = assertThrows(JobRejected.class, () -> prepareYaml("stages:\n  - prune: { method: attention_heads, ratio: 0.5 }\n" + quantize));
        assertEquals("recipe_yaml: stages[1].quantize.group_size: 8 does not divide the rows of blk.0.attn_output.weight (4 wide); set fallback or pick a group size that divides every row", e.getMessage());
        // a quarter of the 16 MLP channels: ffn_down's rows are 12 wide after it
        JobRejected f = assertThrows(JobRejected.class, () -> prepareYaml("stages:\n  - prune: { method: mlp_channels, ratio: 0.25 }\n" + quantize));
        assertEquals("recipe_yaml: stages[1].quantize.group_size: 8 does not divide the rows of blk.0.ffn_down.weight (12 wide); set fallback or pick a group size that divides every row", f.getMessage());
        assertEquals(2, prepareYaml("stages:\n  - prune: { method: mlp_channels, ratio: 0.5 }\n" + quantize).stagePlans().size()); // 8 channels left: fits
    }

    @Test
    void sparsityOneAndPatternFourOfTwoAreRefusedNamingTheField() {
        assertRefused("{ method: magnitude, sparsity: 1 }", "recipe_yaml: stages[0].prune.sparsity: 1 is outside [0, 0.99]");
        assertRefused("{ method: magnitude, sparsity: 0.5, pattern: \"4:2\" }",
                "recipe_yaml: stages[0].prune.pattern: '4:2' is not one of unstructured, 1:2, 1:4, 2:4, 3:4, 4:8");
    }
}
