package io.shardwise.core.calib;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.synth.SyntheticModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.work.ShardInput;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sequential calibration's hand-over, bit for bit: block i's stored outputs (its own, uncompressed tensors) are exactly
 * the states block i+1 computes as its input from the model itself, and block i+1 observes the same linear inputs
 * either way. On stories260K when {@code ../shared/data} is there, else on a synthetic model of its shape.
 */
class BlockCalibrationTest {
    static final CalibrationSpec SPEC = new CalibrationSpec("test", 3, 40, 7, CalibrationMode.SEQUENTIAL);

    @TempDir
    Path tmp;
    Arena arena;
    ModelStore store;
    String digest;
    ModelManifest manifest;
    Path text;

    @BeforeEach
    void setUp() throws Exception {
        arena = Arena.ofShared();
        store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        String shared = System.getProperty("shardwise.shared");
        Path dir = shared == null ? null : Path.of(shared, "data");
        Path model;
        if (dir != null && Files.isRegularFile(dir.resolve("stories260K/stories260K.bin")) && Files.isRegularFile(dir.resolve("text/tinystories/train_head.txt"))) {
            model = dir.resolve("stories260K/stories260K.bin");
            text = dir.resolve("text/tinystories/train_head.txt");
        } else {
            System.out.println("BlockCalibrationTest: no ../shared/data (shardwise.shared=" + shared + "), using a synthetic stories260K-shaped model");
            model = tmp.resolve("synthetic.gguf");
            new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 11).writeGguf(model, GgmlType.F32, "synthetic");
            SplittableRandom rnd = new SplittableRandom(3);
            StringBuilder sb = new StringBuilder();
            String[] words = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "away", "home"};
            while (sb.length() < 20_000) sb.append(words[rnd.nextInt(words.length)]).append(rnd.nextInt(9) == 0 ? ". " : " ");
            text = Files.writeString(tmp.resolve("text.txt"), sb);
        }
        LlamaModel m = ModelFiles.open(model, arena);
        digest = store.importModel(m, model.toUri().toString(), model.getFileName().toString());
        manifest = store.manifest(digest);
    }

    @AfterEach
    void tearDown() {
        arena.close();
    }

    ShardInput input(String shardId, List<String> names, Map<String, Tensor> tensors, String activations) {
        StageSpec stage = StageSpec.newBuilder().setIndex(0).setKind(StageKind.QUANTIZE).setMethod("test").setName("quantize").build();
        ShardRef shard = ShardRef.newBuilder().setShardId(shardId).addAllTensors(names).build();
        return new ShardInput("job", stage, shard, tensors, manifest, digest, manifest, digest, store, ShardInput.Progress.NONE, arena, activations, "");
    }

    ShardInput block(int i, String activations) throws Exception {
        List<String> names = TensorNames.blockTensors(i);
        return input("block." + i, names, store.tensors(manifest, names, arena), activations);
    }

    /** The input of attn_q (rmsnormed states) per window, as block {@code cal} observes it. */
    static List<float[]> attnQInputs(BlockCalibration cal) {
        List<float[]> out = new ArrayList<>();
        cal.observe((Linear[] ws, float[] x, int off, int T, int n) -> {
            if (Arrays.stream(ws).anyMatch(w -> w.name().endsWith("attn_q.weight"))) out.add(Arrays.copyOfRange(x, off, off + T * n));
        });
        return out;
    }

    @Test
    void storedOutputsOfBlockIAreExactlyBlockIPlusOnesInput() throws Exception {
        int i = 1;
        BlockCalibration cal = BlockCalibration.open(block(i, ""), SPEC, text);
        assertEquals(i, cal.block());
        String outputs = cal.storeOutputs(store.tensors(manifest, TensorNames.blockTensors(i), arena));
        assertFalse(outputs.isEmpty());
        LlamaModel model = cal.model();
        int dim = model.config().dim();
        ActivationBlob.Activations acts = ActivationBlob.read(store.blobs(), outputs, arena, SPEC.samples(), SPEC.seqLen(), dim);

        // the model's own forward pass, cut after block i, on the same seeded windows
        int[][] windows = CalibrationSet.load(SPEC, text, Tokenizers.forVocabulary(model.vocabulary()));
        LlamaRuntime rt = new LlamaRuntime(model);
        for (int s = 0; s < SPEC.samples(); s++) {
            LlamaRuntime.Session session = rt.newSession(SPEC.seqLen());
            float[] expected = session.layers(session.embed(windows[s], 0, SPEC.seqLen()), SPEC.seqLen(), 0, i + 1);
            assertArrayEquals(expected, acts.sample(s), "window " + s);
        }

        // block i+1 sees the same linear inputs from the handed-over blob as from computing them itself
        List<float[]> handed = attnQInputs(BlockCalibration.open(block(i + 1, outputs), SPEC, text));
        List<float[]> computed = attnQInputs(BlockCalibration.open(block(i + 1, ""), SPEC, text));
        assertEquals(SPEC.samples(), handed.size());
        for (int s = 0; s < handed.size(); s++) assertArrayEquals(computed.get(s), handed.get(s), "window " + s);
    }

    @Test
    void aCompressedBlockHandsOnItsOwnOutputsAndTheHeadReadsTheLastBlocks() throws Exception {
        int i = 0;
        List<String> names = TensorNames.blockTensors(i);
        Map<String, Tensor> own = store.tensors(manifest, names, arena);
        Map<String, Tensor> compressed = new LinkedHashMap<>(own);
        Tensor q = own.get(TensorNames.attnQ(i));
        float[] v = q.toFloats();
        for (int k = 0; k < v.length; k++) v[k] = Math.round(v[k] * 8) / 8f; // a crude quantizer
        compressed.put(q.name(), Tensor.ofFloats(q.name(), q.shape(), v));
        String exact = BlockCalibration.open(block(i, ""), SPEC, text).storeOutputs(own);
        String rounded = BlockCalibration.open(block(i, ""), SPEC, text).storeOutputs(compressed);
        assertFalse(exact.equals(rounded), "the next block is calibrated on the compressed block's outputs");
        assertEquals(exact, BlockCalibration.open(block(i, ""), SPEC, text).storeOutputs(own), "deterministic: same inputs, same digest");

        // embed and head store nothing (no block reads their outputs); the head observes output.weight on the normed states
        int layers = store.load(digest, arena).config().nLayers();
        List<String> headNames = manifest.getTensorsList().stream().map(e -> e.getName())
                .filter(n -> TensorNames.blockOf(n) < 0 && !n.equals(TensorNames.TOKEN_EMBD)).toList();
        BlockCalibration head = BlockCalibration.open(input("head", headNames, store.tensors(manifest, headNames, arena), ""), SPEC, text);
        assertEquals(layers, head.block());
        assertEquals("", head.storeOutputs(Map.of()));
        List<String> seen = new ArrayList<>();
        head.observe((ws, x, off, T, n) -> seen.add(ws[0].name() + " " + T + "x" + n));
        String classifier = head.model().classifier().name();
        assertEquals(List.of(classifier + " 40x" + head.model().config().dim(), classifier + " 40x" + head.model().config().dim(),
                classifier + " 40x" + head.model().config().dim()), seen);
        BlockCalibration embed = BlockCalibration.open(input("embed", List.of(TensorNames.TOKEN_EMBD),
                store.tensors(manifest, List.of(TensorNames.TOKEN_EMBD), arena), ""), SPEC, text);
        assertEquals("", embed.storeOutputs(Map.of()));
        embed.observe((ws, x, off, T, n) -> seen.add("embed"));
        assertTrue(seen.stream().noneMatch("embed"::equals), "the embedding is a lookup: nothing to observe");
    }
}
