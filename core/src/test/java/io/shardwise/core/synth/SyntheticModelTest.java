package io.shardwise.core.synth;

import io.shardwise.core.format.GgufFile;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticModelTest {
    @TempDir
    Path tmp;

    @Test
    void theSmallShapeWritesAGgufThatReadsBackWithItsShapesAndTypes() throws Exception {
        SyntheticModel m = new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 7);
        Path f = tmp.resolve("s.gguf");
        long bytes = m.writeGguf(f, GgmlType.Q8_0, "s");
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel read = GgufLlama.read(f, arena);
            assertEquals(m.config().dim(), read.config().dim());
            assertEquals(5, read.config().nLayers());
            assertEquals(4, read.config().nKvHeads());
            assertTrue(read.config().tiedEmbeddings());
            assertEquals(512, read.vocabulary().size());
            assertEquals(GgmlType.Q8_0, read.tensor(TensorNames.TOKEN_EMBD).type());
            assertEquals(GgmlType.F16, read.tensor(TensorNames.ffnDown(0)).type(), "rows of 172 do not fit Q8_0 blocks");
            assertEquals(GgmlType.F32, read.tensor(TensorNames.attnNorm(0)).type());
            assertEquals(bytes, read.tensors().values().stream().mapToLong(t -> t.data().byteSize()).sum());
            float[] q = read.tensor(TensorNames.attnQ(2)).toFloats();
            double sum = 0, sq = 0;
            for (float v : q) {
                sum += v;
                sq += v * v;
            }
            assertEquals(0, sum / q.length, 0.01, "centred");
            assertEquals(1 / Math.sqrt(64), Math.sqrt(sq / q.length), 0.01, "std 1/sqrt(row length)");
            float[] norm = read.tensor(TensorNames.ffnNorm(1)).toFloats();
            for (float v : norm) assertTrue(v >= 0.9f && v <= 1.1f, "norm weight " + v);
        }
    }

    @Test
    void theSameSeedWritesTheSameBytesAndAnotherSeedOthers() throws Exception {
        Path a = tmp.resolve("a.gguf"), b = tmp.resolve("b.gguf"), c = tmp.resolve("c.gguf");
        new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 1).writeGguf(a, GgmlType.F16, "x");
        new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 1).writeGguf(b, GgmlType.F16, "x");
        new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 2).writeGguf(c, GgmlType.F16, "x");
        assertEquals(-1, Files.mismatch(a, b));
        assertNotEquals(-1, Files.mismatch(a, c));
        try (Arena arena = Arena.ofConfined()) {
            Tensor ta = GgufFile.read(a, arena).tensors().get(TensorNames.attnK(0));
            Tensor tc = GgufFile.read(c, arena).tensors().get(TensorNames.attnK(0));
            assertNotEquals(-1, ta.data().mismatch(tc.data()));
        }
    }

    @Test
    void theSafetensorsDirectoryReadsBackAsExactlyTheGgufOfTheSameSeed() throws Exception {
        SyntheticModel m = new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 11);
        Path gguf = tmp.resolve("s.gguf"), dir = tmp.resolve("hf");
        m.writeGguf(gguf, GgmlType.BF16, "s");
        var files = m.writeSafetensors(dir, GgmlType.BF16, "s");
        assertEquals(java.util.List.of(dir.resolve("model.safetensors")), files);
        assertTrue(Files.exists(dir.resolve("config.json")) && Files.exists(dir.resolve("tokenizer.json")));
        try (var s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".gguf")), "the temporary GGUF is gone");
        }
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel a = GgufLlama.read(gguf, arena);
            LlamaModel b = io.shardwise.core.format.hf.HfLlama.read(dir, arena);
            assertEquals(a.tensors().keySet(), b.tensors().keySet());
            for (String n : a.tensors().keySet()) {
                assertEquals(GgmlType.BF16, b.tensor(n).type(), n + ": HF checkpoints hold norms in the model's dtype too");
                Tensor want = io.shardwise.core.quant.TensorConverter.convert(a.tensor(n), GgmlType.BF16, arena);
                assertEquals(-1, want.data().mismatch(b.tensor(n).data()), n);
            }
            assertEquals(a.vocabulary().tokens(), b.vocabulary().tokens());
        }
        assertThrows(IllegalArgumentException.class, () -> m.writeSafetensors(tmp.resolve("q"), GgmlType.Q8_0, "q"));
    }

    @Test
    void rowsDependOnlyOnSeedTensorAndRowSoChunksCanBeMadeInAnyOrder() {
        SyntheticWeights w = new SyntheticWeights(3);
        float[] all = new float[10 * 33];
        w.fill("t", false, 0, 10, 33, all);
        float[] part = new float[3 * 33];
        w.fill("t", false, 4, 3, 33, part);
        for (int i = 0; i < part.length; i++) assertEquals(all[4 * 33 + i], part[i]);
        float[] other = new float[33];
        w.fill("u", false, 0, 1, 33, other);
        assertFalse(java.util.Arrays.equals(java.util.Arrays.copyOf(all, 33), other));
    }

    @Test
    void realShapesHaveTheirPublishedHyperParameters() {
        var c = SyntheticModel.Shape.parse("llama-3.2-1b").config;
        assertArrayEquals(new int[]{2048, 8192, 16, 32, 8, 128256}, new int[]{c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize()});
        assertTrue(c.tiedEmbeddings());
        assertEquals(500000f, c.ropeTheta());
        assertEquals(32f, c.ropeScaling().factor());
        assertEquals(8192, c.ropeScaling().originalContext());
        SyntheticModel m1 = new SyntheticModel(c, 0);
        assertEquals(1_235_814_400L, m1.tensors().values().stream().mapToLong(t -> t.shape().length == 1 ? t.shape()[0] : t.shape()[0] * t.shape()[1]).sum(),
                "Llama 3.2 1B's parameter count");
        float[] f = SyntheticModel.ropeFactors(c);
        assertEquals(32, f.length);
        assertEquals(1f, f[0], 1e-6f, "the highest frequency is not scaled");
        assertEquals(32f, f[31], 1e-3f, "the lowest is scaled by the full factor");
        var c7 = SyntheticModel.Shape.parse("LLAMA-2-7B").config;
        assertFalse(c7.tiedEmbeddings());
        assertEquals(6_738_415_616L, new SyntheticModel(c7, 0).tensors().values().stream()
                .mapToLong(t -> t.shape().length == 1 ? t.shape()[0] : t.shape()[0] * t.shape()[1]).sum(), "Llama 2 7B's parameter count");
        assertThrows(IllegalArgumentException.class, () -> SyntheticModel.Shape.parse("llama-9b"));
    }

    @Test
    void theVocabularyHasTheSizeAskedUniquePiecesAndEveryPrefixOfAPiece() {
        Vocabulary v = SyntheticVocabulary.of(32000);
        assertEquals(32000, v.size());
        assertEquals(32000, new HashSet<>(v.tokens()).size());
        assertEquals("<s>", v.tokens().get(v.bos()));
        assertEquals("<0x41>", v.tokens().get(3 + 0x41));
        var set = new HashSet<>(v.tokens());
        for (String t : v.tokens()) {
            if (t.length() > 1 && !t.startsWith("<")) assertTrue(set.contains(t.substring(0, t.length() - 1)), "prefix of " + t);
        }
        assertEquals(128256, SyntheticVocabulary.of(128256).size());
    }
}
