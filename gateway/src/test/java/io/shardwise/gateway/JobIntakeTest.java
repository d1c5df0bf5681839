package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.SubmitJobRequest;
import io.shardwise.proto.v1.Technique;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JobIntakeTest {
    @TempDir
    Path tmp;
    Path models;
    CapabilityRegistry caps = new CapabilityRegistry();
    JobIntake intake;
    ModelStore store;

    @BeforeEach
    void setUp() throws Exception {
        models = tmp.resolve("models");
        TinyModelFiles.write(models, "tiny.bin", 3);
        store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        intake = new JobIntake(caps, new ModelRoots(List.of(models)), store, tmp.resolve("out"), 1000);
        caps.put(Capabilities.newBuilder().setService("pruner").setKind(StageKind.PRUNE).setMemoryBytes(1 << 20)
                .addTechniques(Technique.newBuilder().setMethod("magnitude").addParams(ParamSpec.newBuilder().setName("sparsity").setMin(0).setMax(1))).build());
        caps.put(Capabilities.newBuilder().setService("distiller").setKind(StageKind.DISTILL).setMemoryBytes(1 << 20)
                .addTechniques(Technique.newBuilder().setMethod("kd").setWholeModel(true)).build());
    }

    SubmitPlan prepare(String recipe) throws JobRejected {
        return intake.prepare("job-x", SubmitJobRequest.newBuilder().setModelUri("tiny.bin").setRecipeYaml(recipe).build());
    }

    JobRejected refused(String recipe) {
        return assertThrows(JobRejected.class, () -> prepare(recipe));
    }

    @Test
    void plansPerBlockAndWholeModelStagesAndImportsTheModel() throws Exception {
        SubmitPlan p = prepare("stages:\n  - prune: { method: magnitude, sparsity: 0.5 }\n  - distill: { method: kd }\n");
        assertEquals(List.of("embed", "block.0", "block.1", "head"), p.stagePlans().get(0).getShardsList().stream().map(s -> s.getShardId()).toList());
        assertEquals(List.of("model"), p.stagePlans().get(1).getShardsList().stream().map(s -> s.getShardId()).toList());
        assertTrue(p.stagePlans().get(1).getWholeModel());
        assertEquals("distiller", p.stagePlans().get(1).getService());
        // largest per-block shard: a block, 4*(8*8*4 + 3*8*16 + 2*8) bytes, twice, plus the 1000-byte margin
        long block = 4L * (8 * 8 * 4 + 3 * 8 * 16 + 2 * 8);
        assertEquals(2 * block + 1000, p.stagePlans().get(0).getPeakBytes());
        long model = store.manifest(p.sourceManifest()).getTensorsList().stream().mapToLong(e -> e.getNbytes()).sum();
        assertEquals(5 * model + 1000, p.stagePlans().get(1).getPeakBytes());
        assertEquals(p.stagePlans().get(1).getShards(0).getTensorsCount(), store.manifest(p.sourceManifest()).getTensorsCount());
        assertEquals("tiny.bin", store.manifest(p.sourceManifest()).getName());
    }

    @Test
    void stories260KIsImportedAndPlannedAsSevenShards() throws Exception {
        String shared = System.getProperty("shardwise.shared");
        Path dir = shared == null ? null : Path.of(shared, "data", "stories260K");
        if (dir == null || !Files.isRegularFile(dir.resolve("stories260K.bin"))) {
            System.out.println("SKIP stories260KIsImportedAndPlannedAsSevenShards: no ../shared/data/stories260K (shardwise.shared=" + shared + ")");
            Assumptions.abort("shared data absent");
        }
        JobIntake real = new JobIntake(caps, new ModelRoots(List.of(dir)), store, tmp.resolve("out"), 0);
        SubmitPlan p = real.prepare("job-s", SubmitJobRequest.newBuilder().setModelUri("stories260K.bin")
                .setRecipeYaml("stages:\n  - prune: { method: magnitude, sparsity: 0.5 }\n").build());
        assertEquals(List.of("embed", "block.0", "block.1", "block.2", "block.3", "block.4", "head"),
                p.stagePlans().getFirst().getShardsList().stream().map(s -> s.getShardId()).toList());
        // dim 64, hidden 172, kv dim 32: a block is 2 norms + wq, wo (64x64) + wk, wv (64x32) + w1, w2, w3 (64x172) floats
        long block = 4L * (2 * 64 + 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 172);
        assertEquals(2 * block, p.stagePlans().getFirst().getPeakBytes());
        var m = store.manifest(p.sourceManifest());
        assertEquals(5, m.getConfig().getNLayers());
        assertEquals(512, m.getConfig().getVocabSize());
        assertTrue(m.getConfig().getTiedEmbeddings());
    }

    @Test
    void memoryPlanRefusesAShardTheServiceCannotHold() {
        caps.put(Capabilities.newBuilder().setService("distiller").setKind(StageKind.DISTILL).setMemoryBytes(20_000)
                .addTechniques(Technique.newBuilder().setMethod("kd").setWholeModel(true)).build());
        JobRejected e = refused("stages:\n  - prune: { method: magnitude }\n  - distill: { method: kd }\n");
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
        assertTrue(e.getMessage().startsWith("recipe_yaml: stages[1].distill: shard model needs about"), e.getMessage());
        assertTrue(e.getMessage().contains("service 'distiller' declares 0.0 MiB"), e.getMessage());
    }

    @Test
    void stageKindWithoutAnyServiceIsAPreconditionFailure() {
        JobRejected e = refused("stages:\n  - quantize: { method: rtn }\n");
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
        assertTrue(e.getMessage().startsWith("recipe_yaml: stages[0].quantize: no running service offers quantize methods"), e.getMessage());
    }

    @Test
    void paramNotANumberIsRefused() {
        JobRejected e = refused("stages:\n  - prune: { method: magnitude, sparsity: half }\n");
        assertEquals("recipe_yaml: stages[0].prune.sparsity: 'half' is not a number", e.getMessage());
    }

    @Test
    void evaluationFileOutsideTheRootsIsRefused() throws Exception {
        Path text = Files.writeString(tmp.resolve("secret.txt"), "x");
        JobRejected e = refused("stages:\n  - prune: { method: magnitude }\nevaluate: { suites: [tinystories, '" + text + "'] }\n");
        assertEquals(Status.Code.PERMISSION_DENIED, e.code());
        assertTrue(e.getMessage().startsWith("recipe_yaml: evaluate.suites[1]: "), e.getMessage());
        Files.writeString(models.resolve("eval.txt"), "x");
        // a file under a root is accepted
        assertFalse(prepare("stages:\n  - prune: { method: magnitude }\nevaluate: { suites: ['file:" + models.resolve("eval.txt") + "'] }\n").sourceManifest().isEmpty());
    }

    @Test
    void fileParameterOutsideTheRootsIsRefused() throws Exception {
        caps.put(Capabilities.newBuilder().setService("distiller").setKind(StageKind.DISTILL)
                .addTechniques(Technique.newBuilder().setMethod("kd").setWholeModel(true).addParams(ParamSpec.newBuilder().setName("dataset"))).build());
        Path text = Files.writeString(tmp.resolve("train.txt"), "x");
        JobRejected e = refused("stages:\n  - distill: { method: kd, dataset: '" + text + "' }\n");
        assertEquals(Status.Code.PERMISSION_DENIED, e.code());
        assertTrue(e.getMessage().startsWith("recipe_yaml: stages[0].distill.dataset: "), e.getMessage());
        Files.writeString(models.resolve("train.txt"), "x");
        assertEquals(1, prepare("stages:\n  - distill: { method: kd, dataset: 'file:" + models.resolve("train.txt") + "' }\n").stagePlans().size());
    }

    @Test
    void outputPathMustStayInTheOutputDirectory() {
        JobRejected e = refused("stages:\n  - prune: { method: magnitude }\noutput: { path: ../../etc/model.gguf }\n");
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith("recipe_yaml: output.path: ../../etc/model.gguf resolves to"), e.getMessage());
        assertEquals(tmp.resolve("out/sub/m.gguf").toAbsolutePath(), JobIntake.outputFile(tmp.resolve("out"), "job-1", "sub/m.gguf"));
        assertEquals(tmp.resolve("out/job-1.gguf").toAbsolutePath(), JobIntake.outputFile(tmp.resolve("out"), "job-1", ""));
    }

    @Test
    void missingTokenizerIsAPreconditionFailureNamingTheModel() throws Exception {
        Files.delete(models.resolve("tok16.bin"));
        JobRejected e = refused("stages:\n  - prune: { method: magnitude }\n");
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
        assertTrue(e.getMessage().startsWith("model_uri: ") && e.getMessage().contains("tiny.bin"), e.getMessage());
        assertTrue(e.getMessage().contains("tokenizer"), e.getMessage());
    }
}
