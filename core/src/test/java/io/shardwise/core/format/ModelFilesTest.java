package io.shardwise.core.format;

import io.shardwise.core.model.LlamaModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Format detection and the errors for files that are neither GGUF nor llama2.c. */
class ModelFilesTest {
    @TempDir
    Path tmp;

    static byte[] llama2cHeader(int... h) {
        ByteBuffer b = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : h) b.putInt(v);
        return b.array();
    }

    void refused(byte[] content, String... fragments) throws Exception {
        Path p = Files.write(tmp.resolve("model.bin"), content);
        try (Arena arena = Arena.ofConfined()) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(p, arena));
            assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
            for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
        }
    }

    @Test
    void garbageTextAndForeignFormatsAreRefusedByName() throws Exception {
        refused(new byte[0], "neither GGUF", "llama2.c");
        refused("hello, this is a text file and not a model at all".getBytes(), "neither GGUF");
        refused(new byte[]{'2', '4', 'k', 'a', 0, 0, 0, 0}, "versioned export");
        byte[] st = new byte[64];
        ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).putLong(40).put((byte) '{');
        refused(st, "safetensors");
    }

    @Test
    void llama2cHeaderWithWrongSizeIsNotTakenForAModel() throws Exception {
        byte[] header = llama2cHeader(64, 172, 5, 8, 4, 512, 512);
        refused(Arrays.copyOf(header, 1000), "needs 1056540 bytes", "1000", "truncated");
        refused(Arrays.copyOf(header, 2_000_000), "needs 1056540 bytes", "2000000");
        refused(llama2cHeader(64, 172, 5, 8, 3, 512, 512), "n_heads 8 is not a multiple of n_kv_heads 3");
    }

    @Test
    void missingFileSaysSo() {
        Path p = tmp.resolve("nope.gguf");
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> ModelFiles.open(p, Arena.ofAuto()));
        assertTrue(e.getMessage().contains("nope.gguf"));
    }

    @Test
    void ggufOpensThroughModelFiles() throws Exception {
        Path p = tmp.resolve("tiny.gguf");
        LlamaModel tiny = TestModels.tiny(5, false);
        ModelFiles.write(tiny, p, GgufLlama.WriteOptions.keepTypes("tiny"));
        assertEquals(ModelFiles.Format.GGUF, ModelFiles.detect(p));
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel back = ModelFiles.open(p, arena);
            assertEquals(tiny.config(), back.config());
            assertEquals(tiny.tensors().keySet(), back.tensors().keySet());
            assertTrue(back.tensors().containsKey("output.weight"));
        }
    }

    @Test
    void llama2cCheckpointWithoutTokenizerBesideItIsRefused() throws Exception {
        Path dir = TestModels.stories260K();
        Path copy = Files.copy(dir.resolve("stories260K.bin"), tmp.resolve("stories260K.bin"));
        assertEquals(ModelFiles.Format.LLAMA2C, ModelFiles.detect(copy));
        try (Arena arena = Arena.ofConfined()) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(copy, arena));
            assertTrue(e.getMessage().contains("tok512.bin"), e.getMessage());
        }
    }
}
