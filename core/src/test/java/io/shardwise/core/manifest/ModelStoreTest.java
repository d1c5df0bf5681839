package io.shardwise.core.manifest;

import io.shardwise.core.blob.BlobWriter;
import io.shardwise.core.blob.CorruptBlobException;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.blob.Sha256;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.synth.SyntheticModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelStoreTest {
    @TempDir
    Path tmp;
    FileBlobStore blobs;
    ModelStore store;
    Path modelFile;

    @BeforeEach
    void setUp() throws Exception {
        blobs = new FileBlobStore(tmp.resolve("blobs"));
        store = new ModelStore(blobs);
        modelFile = tmp.resolve("m.gguf");
        new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 5).writeGguf(modelFile, GgmlType.F16, "m");
    }

    @Test
    void anImportedModelReadsBackTensorForTensorAndAShardMapsOnlyItsBlobInItsArena() throws Exception {
        String digest;
        LlamaModel source;
        try (Arena file = Arena.ofConfined()) {
            source = GgufLlama.read(modelFile, file);
            digest = store.importModel(source, modelFile.toUri().toString(), "m");
            ModelManifest m = store.manifest(digest);
            List<String> names = TensorNames.blockTensors(3);
            Map<String, Tensor> shard;
            try (Arena task = Arena.ofConfined()) {
                shard = store.tensors(m, names, task);
                assertEquals(names, List.copyOf(shard.keySet()));
                for (String n : names) {
                    assertEquals(-1, shard.get(n).data().mismatch(source.tensor(n).data()), n);
                    assertTrue(shard.get(n).data().isMapped());
                    assertEquals(0, m.getTensorsList().stream().filter(e -> e.getName().equals(n)).findFirst().orElseThrow().getOffset() % ModelStore.ALIGN);
                }
            }
            Tensor closed = shard.get(names.getFirst());
            assertThrows(IllegalStateException.class, () -> closed.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0), "unmapped with its arena");
            try (Arena a = Arena.ofConfined()) {
                LlamaModel back = store.load(digest, a);
                assertEquals(source.tensors().keySet(), back.tensors().keySet());
                for (String n : source.tensors().keySet()) assertEquals(-1, back.tensor(n).data().mismatch(source.tensor(n).data()), n);
            }
        }
        assertEquals(digest, store.importModel(reRead(), modelFile.toUri().toString(), "m"), "the same model imports to the same digest");
    }

    private LlamaModel reRead() throws Exception {
        return GgufLlama.read(modelFile, Arena.ofAuto());
    }

    @Test
    void aStreamedBlobHasTheDigestOfItsBytesAndAnAbandonedOneLeavesNothing() throws Exception {
        byte[] bytes = new byte[3 * (1 << 20) + 17];
        new java.util.Random(1).nextBytes(bytes);
        String digest;
        try (BlobWriter w = blobs.writer()) {
            w.write(MemorySegment.ofArray(bytes).asSlice(0, 1000));
            w.zeros(0);
            w.write(bytes, 1000, bytes.length - 1000);
            assertEquals(bytes.length, w.position());
            digest = w.commit();
        }
        assertEquals(Sha256.of(bytes), digest);
        assertArrayEquals(bytes, blobs.get(digest));
        try (BlobWriter w = blobs.writer()) {
            w.write(bytes, 0, 10);
            w.zeros(5);
        }
        try (var s = Files.list(blobs.root().resolve("tmp"))) {
            assertEquals(0, s.count(), "no temp file left behind");
        }
        blobs.verify(digest);
    }

    @Test
    void aTruncatedTensorBlobFailsNamingTensorAndBlobAndIsLeftAsItIs() throws Exception {
        String digest;
        try (Arena a = Arena.ofConfined()) {
            digest = store.importModel(GgufLlama.read(modelFile, a), "x", "m");
        }
        ModelManifest m = store.manifest(digest);
        TensorEntry last = m.getTensorsList().stream().max(java.util.Comparator.comparingLong(TensorEntry::getOffset)).orElseThrow();
        Path blob = blobs.localPath(last.getBlob()).orElseThrow();
        try (FileChannel ch = FileChannel.open(blob, StandardOpenOption.WRITE)) {
            ch.truncate(last.getOffset() + last.getNbytes() / 2);
        }
        byte[] before = Files.readAllBytes(blob);
        try (Arena a = Arena.ofConfined()) {
            CorruptBlobException e = assertThrows(CorruptBlobException.class, () -> store.tensors(m, List.of(last.getName()), a));
            assertTrue(e.getMessage().contains(last.getName()) && e.getMessage().contains(last.getBlob()) && e.getMessage().contains("truncated"), e.getMessage());
            assertThrows(CorruptBlobException.class, () -> store.load(digest, a));
        }
        CorruptBlobException v = assertThrows(CorruptBlobException.class, () -> blobs.verify(last.getBlob()));
        assertTrue(v.getMessage().contains(last.getBlob()), v.getMessage());
        assertArrayEquals(before, Files.readAllBytes(blob), "reads never repair or delete stored data");
        // storing the same tensors again does not overwrite the damaged blob either: its name already exists
        assertTrue(blobs.exists(last.getBlob()));
    }

    @Test
    void aCorruptManifestOrATensorEntryThatLiesFailsClearly() throws Exception {
        String digest;
        try (Arena a = Arena.ofConfined()) {
            digest = store.importModel(GgufLlama.read(modelFile, a), "x", "m");
        }
        Path p = blobs.localPath(digest).orElseThrow();
        byte[] good = Files.readAllBytes(p);
        byte[] bad = good.clone();
        bad[bad.length / 2] ^= 0x40;
        Files.write(p, bad);
        CorruptBlobException e = assertThrows(CorruptBlobException.class, () -> store.manifest(digest));
        assertTrue(e.getMessage().contains("manifest blob " + digest) && e.getMessage().contains("corrupt"), e.getMessage());
        assertArrayEquals(bad, Files.readAllBytes(p));
        Files.write(p, good);

        ModelManifest m = store.manifest(digest);
        TensorEntry e0 = m.getTensors(0);
        ModelManifest lying = m.toBuilder().setTensors(0, e0.toBuilder().setType("Q9_9")).build();
        ModelFormatException f = assertThrows(ModelFormatException.class, () -> store.tensors(lying, List.of(e0.getName()), Arena.ofAuto()));
        assertTrue(f.getMessage().contains(e0.getName()) && f.getMessage().contains("Q9_9"), f.getMessage());
        ModelManifest wrongSize = m.toBuilder().setTensors(0, e0.toBuilder().setNbytes(e0.getNbytes() - 2)).build();
        f = assertThrows(ModelFormatException.class, () -> store.tensors(wrongSize, List.of(e0.getName()), Arena.ofAuto()));
        assertTrue(f.getMessage().contains(e0.getName()) && f.getMessage().contains("bytes"), f.getMessage());
        ModelManifest negative = m.toBuilder().setTensors(0, e0.toBuilder().setOffset(-32)).build();
        assertThrows(CorruptBlobException.class, () -> store.tensors(negative, List.of(e0.getName()), Arena.ofAuto()));
        assertThrows(ModelFormatException.class, () -> store.manifest(blobs.put(new byte[]{(byte) 0xFF, 1, 2})), "not a manifest");
        assertFalse(Files.exists(tmp.resolve("blobs/tmp/x")));
    }

    @Test
    void aByteLevelVocabularyAndTheArchitectureSurviveTheManifest() throws Exception {
        try (Arena file = Arena.ofConfined()) {
            LlamaModel source = GgufLlama.read(modelFile, file);
            io.shardwise.core.model.Vocabulary bpe = io.shardwise.core.tokenizer.TestVocabularies.byteLevel(source.config().vocabSize());
            LlamaModel model = new LlamaModel(source.config(), bpe, source.tensors());
            String digest = store.importModel(model, "test:bpe", "bpe");
            ModelManifest m = store.manifest(digest);
            assertEquals(io.shardwise.core.tokenizer.VocabularyCodec.kind(bpe), m.getTokenizer().getKind());
            assertEquals("llama", m.getArchitecture());
            io.shardwise.core.model.Vocabulary back = store.vocabulary(m);
            assertEquals(bpe.kind(), back.kind());
            assertEquals(bpe.tokens(), back.tokens());
            assertEquals(bpe.merges(), back.merges());
            String text = "Hello, world! It's 2026.";
            assertArrayEquals(io.shardwise.core.tokenizer.Tokenizers.forVocabulary(bpe).encode(text),
                    io.shardwise.core.tokenizer.Tokenizers.forVocabulary(back).encode(text));
        }
    }
}
