package io.shardwise.core.format;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** stories260K (llama2.c) to GGUF and back, as F32 and with matrices quantized to Q8_0 (F16 where rows do not fit). */
class GgufRoundTripTest {
    @TempDir
    Path tmp;

    @Test
    void f32RoundTripKeepsEveryTensorByteConfigAndVocabulary() throws Exception {
        Path dir = TestModels.stories260K();
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel src = ModelFiles.open(dir.resolve("stories260K.bin"), arena);
            assertEquals(ModelFiles.Format.LLAMA2C, ModelFiles.detect(dir.resolve("stories260K.bin")));
            Path gguf = tmp.resolve("stories260K.gguf");
            ModelFiles.write(src, gguf, GgufLlama.WriteOptions.keepTypes("stories260K"));
            assertEquals(ModelFiles.Format.GGUF, ModelFiles.detect(gguf));

            LlamaModel back = ModelFiles.open(gguf, arena);
            assertEquals(src.config(), back.config());
            assertTrue(back.config().tiedEmbeddings());
            assertFalse(back.tensors().containsKey(TensorNames.OUTPUT));
            assertEquals(List.copyOf(src.tensors().keySet()), List.copyOf(back.tensors().keySet()));
            for (Tensor t : src.tensors().values()) {
                Tensor b = back.tensor(t.name());
                assertEquals(GgmlType.F32, b.type(), t.name());
                assertArrayEquals(t.shape(), b.shape(), t.name());
                assertEquals(-1, t.data().mismatch(b.data()), t.name() + " bytes differ");
            }
            assertVocabularyMatchesLlama2c(src.vocabulary(), back.vocabulary());

            GgufFile f = GgufFile.read(gguf, arena);
            assertEquals(3, f.version());
            assertEquals("llama", f.string("general.architecture"));
            assertEquals(0, f.integer("general.file_type", 0, 100));
            assertEquals(64, f.integer("llama.embedding_length", 0, 1 << 20));
            assertEquals(8, f.integer("llama.rope.dimension_count", 0, 1 << 20));
            assertEquals(1e-5f, (float) f.real("llama.attention.layer_norm_rms_epsilon"));
            List<String> tokens = f.array("tokenizer.ggml.tokens", GgufValueType.STRING).strings();
            assertEquals("\u2581t", tokens.get(259)); // llama2.c's " t" with SentencePiece's space mark
            assertEquals("<s>", tokens.get(1));
            int[] types = f.array("tokenizer.ggml.token_type", GgufValueType.INT32).ints();
            assertEquals(List.of(2, 3, 3, 6, 6, 1), List.of(types[0], types[1], types[2], types[3], types[258], types[259]));
            assertEquals(0, f.integer("tokenizer.ggml.unknown_token_id", 0, 511));
            for (GgufFile.TensorInfo ti : f.tensorInfos()) assertEquals(0, ti.offset() % 32, ti.name());
            assertEquals(0, f.dataOffset() % 32);

            // GGUF -> model -> GGUF is byte-identical
            Path again = tmp.resolve("again.gguf");
            ModelFiles.write(back, again, GgufLlama.WriteOptions.keepTypes("stories260K"));
            assertArrayEquals(Files.readAllBytes(gguf), Files.readAllBytes(again));
        }
    }

    @Test
    void q8_0RoundTripQuantizesMatricesAndFallsBackToF16ForRowsOf172() throws Exception {
        Path dir = TestModels.stories260K();
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel src = ModelFiles.open(dir.resolve("stories260K.bin"), arena);
            Path gguf = tmp.resolve("stories260K-q8_0.gguf");
            ModelFiles.write(src, gguf, new GgufLlama.WriteOptions("stories260K", GgmlType.Q8_0));
            LlamaModel back = ModelFiles.open(gguf, arena);
            assertEquals(src.config(), back.config());
            int q8 = 0, f16 = 0;
            for (Tensor t : src.tensors().values()) {
                Tensor b = back.tensor(t.name());
                GgmlType want = t.shape().length == 1 ? GgmlType.F32 : t.shape()[0] % 32 == 0 ? GgmlType.Q8_0 : GgmlType.F16;
                assertEquals(want, b.type(), t.name());
                if (want == GgmlType.Q8_0) q8++;
                if (want == GgmlType.F16) f16++;
                Tensor expected = TensorCodecs.quantize(t.name(), t.shape(), t.toFloats(), want);
                assertEquals(-1, expected.data().mismatch(b.data()), t.name() + " bytes differ from the codec's");
            }
            assertEquals(1 + 6 * 5, q8); // token_embd and every matrix but ffn_down (rows of 172)
            assertEquals(5, f16);
            GgufFile f = GgufFile.read(gguf, arena);
            assertEquals(7, f.integer("general.file_type", 0, 100)); // LLAMA_FTYPE_MOSTLY_Q8_0
            assertEquals(2, f.integer("general.quantization_version", 0, 100));
            assertTrue(Files.size(gguf) < Files.size(dir.resolve("stories260K.bin")) / 2);

            // the quantized file reads back and re-writes byte-identically with its types kept
            Path again = tmp.resolve("again.gguf");
            ModelFiles.write(back, again, GgufLlama.WriteOptions.keepTypes("stories260K"));
            assertArrayEquals(Files.readAllBytes(gguf), Files.readAllBytes(again));
        }
    }

    /** Identical but for BOS/EOS, which llama2.c pads with newlines and GGUF (like llama.cpp's converter) does not. */
    static void assertVocabularyMatchesLlama2c(Vocabulary llama2c, Vocabulary gguf) {
        assertEquals(llama2c.size(), gguf.size());
        assertEquals(llama2c.bos(), gguf.bos());
        assertEquals(llama2c.eos(), gguf.eos());
        assertEquals(llama2c.maxTokenLength(), gguf.maxTokenLength());
        assertArrayEquals(llama2c.scores(), gguf.scores()); // bitwise: -0.0 stays -0.0
        for (int i = 0; i < llama2c.size(); i++) {
            String want = i == llama2c.bos() || i == llama2c.eos() ? llama2c.tokens().get(i).strip() : llama2c.tokens().get(i);
            assertEquals(want, gguf.tokens().get(i), "token " + i);
        }
        assertEquals("\n<s>\n", llama2c.tokens().get(1));
    }
}
