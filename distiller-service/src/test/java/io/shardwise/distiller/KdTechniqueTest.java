package io.shardwise.distiller;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KdTechniqueTest {

    @Test
    void describesAWholeModelDistillStageWithItsParameters() {
        var t = new KdTechnique(new KdDatasets(Optional.empty(), Map.of(), List.of(), Path.of("/nonexistent")));
        assertEquals(StageKind.DISTILL, t.kind());
        assertEquals("kd", t.method());
        assertTrue(t.wholeModel());
        var d = t.describe();
        assertTrue(d.getWholeModel());
        Map<String, String> defaults = d.getParamsList().stream().collect(Collectors.toMap(ParamSpec::getName, ParamSpec::getDefaultValue));
        assertEquals(Map.of("steps", "200", "lr", "1e-3", "temperature", "2.0", "seq_len", "128", "batch", "8", "seed", "0",
                "dataset", "tinystories-train"), defaults);
        // the defaults the technique publishes are the defaults it applies
        assertEquals(KdTechnique.settings(Map.of()), KdTechnique.settings(defaults));
    }

    @Test
    void datasetNamesResolveAndBadOnesAreRefusedNamingTheField(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("text/tinystories"));
        Files.writeString(dir.resolve("text/tinystories/train_head.txt"), "Once upon a time");
        Path other = dir.resolve("mine.txt");
        Files.writeString(other, "text");
        var ds = new KdDatasets(Optional.of(dir), Map.of("mine", other.toString()), List.of(), dir.resolve("demo"));
        assertEquals(dir.resolve("text/tinystories/train_head.txt"), ds.resolve("tinystories-train"));
        assertEquals(other, ds.resolve("mine"));
        assertEquals(other, ds.resolve(other.toString()));
        var e = assertThrows(IllegalArgumentException.class, () -> ds.resolve("tinystoris"));
        assertTrue(e.getMessage().contains("distill.dataset") && e.getMessage().contains("tinystories-train"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ds.resolve("/etc/passwd"));
        assertTrue(e.getMessage().contains("outside the allowed roots"), e.getMessage());
        assertThrows(NoSuchFileException.class, () -> ds.resolve("wikitext2"));
    }

    @Test
    void appliesKdToAStoredPrunedModelTowardItsSource(@TempDir Path blobs) throws Exception {
        Path data = Path.of(System.getProperty("shardwise.shared", "../shared")).resolve("data");
        Path bin = data.resolve("stories260K/stories260K.bin");
        Assumptions.assumeTrue(Files.isRegularFile(bin), "skipped: " + bin + " absent (../shared/data)");
        ModelStore store = new ModelStore(new FileBlobStore(blobs));
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel source = Llama2cCheckpoint.read(bin, data.resolve("stories260K/tok512.bin"), arena);
            String src = store.importModel(source, bin.toUri().toString(), "stories260K");
            StageSpec prune = StageSpec.newBuilder().setIndex(0).setKind(StageKind.PRUNE).setMethod("magnitude").setName("prune").build();
            List<TensorEntry> prunedEntries = store.storeTensors(LogitDistillationTest.prune24(source).values());
            String pruned = store.derive(src, prune, prunedEntries);
            var manifest = store.manifest(pruned);
            List<String> names = manifest.getTensorsList().stream().map(TensorEntry::getName).toList();
            StageSpec stage = StageSpec.newBuilder().setIndex(1).setKind(StageKind.DISTILL).setMethod("kd").setName("distill")
                    .putParams("steps", "3").putParams("batch", "2").putParams("seq_len", "32").putParams("seed", "7").build();
            ShardInput in = new ShardInput("job-1", stage, ShardRef.newBuilder().setShardId("model").addAllTensors(names).build(),
                    store.tensors(manifest, names), manifest, pruned, store.manifest(src), src, store, ShardInput.Progress.NONE);
            var technique = new KdTechnique(new KdDatasets(Optional.of(data), Map.of(), List.of(), blobs.resolve("demo")));
            ShardOutput out = technique.apply(in);
            assertEquals(new java.util.TreeSet<>(names), new java.util.TreeSet<>(out.tensors().keySet()));
            assertEquals(3.0, out.stats().get("kd_steps"));
            assertTrue(out.stats().get("zeros_kept") > 0);
            String q = TensorNames.attnQ(0);
            float[] before = in.tensors().get(q).toFloats(), after = out.tensors().get(q).toFloats();
            for (int i = 0; i < before.length; i++) if (before[i] == 0f) assertEquals(0f, after[i], q + "[" + i + "]");
            assertTrue(!java.util.Arrays.equals(before, after), "kd did not change " + q);
            // seeded: the same task gives the same tensors
            ShardOutput again = technique.apply(in);
            for (Tensor t : out.tensors().values()) assertArrayEquals(t.toFloats(), again.tensors().get(t.name()).toFloats(), t.name());
        }
    }
}
