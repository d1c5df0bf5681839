package io.shardwise.core.runtime;

import io.shardwise.core.format.GgufFile;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A head_dim that is not dim / n_heads (attention-head pruning) through GGUF (key_length/value_length), the manifest config and llama2.c's refusal. */
class HeadDimFormatsTest {
    @TempDir
    Path tmp;

    /** dim 32, 6 heads of 4 over 3 kv heads: q width 24. */
    private static LlamaConfig pruned() {
        return new LlamaConfig(32, 40, 2, 6, 3, 48, 24, 10000f, 1e-5f, true, LlamaConfig.LLAMA, false, RopeScaling.NONE, false, 4);
    }

    @Test
    void ggufRoundTripKeepsHeadDimAndLogits() throws Exception {
        LlamaModel m = TinyModels.random(pruned(), 31);
        Path gguf = tmp.resolve("pruned.gguf");
        ModelFiles.write(m, gguf, GgufLlama.WriteOptions.keepTypes("pruned"));
        try (Arena arena = Arena.ofConfined()) {
            GgufFile f = GgufFile.read(gguf, arena);
            assertEquals(4, f.integer("llama.attention.key_length", 0, 1 << 20));
            assertEquals(4, f.integer("llama.attention.value_length", 0, 1 << 20));
            assertEquals(4, f.integer("llama.rope.dimension_count", 0, 1 << 20));
            LlamaModel back = ModelFiles.open(gguf, arena);
            assertEquals(m.config(), back.config());
            assertEquals(4, back.config().headDim());
            assertArrayEquals(new long[]{32, 24}, back.tensor("blk.0.attn_q.weight").shape());
            assertArrayEquals(new long[]{24, 32}, back.tensor("blk.0.attn_output.weight").shape());
            int[] seq = {1, 7, 9, 4, 30, 2};
            LlamaRuntime.Logits a = new LlamaRuntime(m).newSession(8).forward(seq, 0, seq.length);
            LlamaRuntime.Logits b = new LlamaRuntime(back).newSession(8).forward(seq, 0, seq.length);
            for (int t = 0; t < seq.length; t++) for (int v = 0; v < 48; v++) assertEquals(a.get(t, v), b.get(t, v), 0f, "logit " + t + "," + v);
        }
    }

    @Test
    void hfRoundTripKeepsHeadDimAndLogits() throws Exception {
        LlamaModel m = TinyModels.random(pruned(), 32);
        Path dir = tmp.resolve("hf");
        ModelFiles.writeSafetensors(m, dir, HfLlama.WriteOptions.DEFAULT);
        assertTrue(java.nio.file.Files.readString(dir.resolve("config.json")).contains("\"head_dim\" : 4")
                || java.nio.file.Files.readString(dir.resolve("config.json")).contains("\"head_dim\":4"));
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel back = ModelFiles.open(dir, arena);
            assertEquals(4, back.config().headDim());
            assertEquals(6, back.config().nHeads());
            int[] seq = {1, 7, 9, 4, 30, 2};
            LlamaRuntime.Logits a = new LlamaRuntime(m).newSession(8).forward(seq, 0, seq.length);
            LlamaRuntime.Logits b = new LlamaRuntime(back).newSession(8).forward(seq, 0, seq.length);
            for (int t = 0; t < seq.length; t++) for (int v = 0; v < 48; v++) assertEquals(a.get(t, v), b.get(t, v), 1e-5f, "logit " + t + "," + v);
        }
    }

    @Test
    void ggufOfAnOrdinaryModelHasNoKeyLength() throws Exception {
        LlamaModel m = TinyModels.random(TinyModels.config(true), 3);
        Path gguf = tmp.resolve("plain.gguf");
        ModelFiles.write(m, gguf, GgufLlama.WriteOptions.keepTypes("plain"));
        try (Arena arena = Arena.ofConfined()) {
            assertFalse(GgufFile.read(gguf, arena).has("llama.attention.key_length"));
            assertFalse(m.config().explicitHeadDim());
        }
    }

    @Test
    void manifestConfigKeepsHeadDimAndOldOnesDefaultIt() {
        LlamaConfig c = pruned();
        assertEquals(4, c.toProto().getHeadDim());
        assertEquals(c, LlamaConfig.fromProto(c.toProto()));
        LlamaConfig plain = TinyModels.config(true);
        assertEquals(0, plain.toProto().getHeadDim()); // unchanged bytes for old configs
        assertEquals(8, LlamaConfig.fromProto(plain.toProto()).headDim());
        // 6 heads with head_dim absent: dim 32 does not divide, so the config is refused naming head_dim
        var e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.fromProto(c.toProto().toBuilder().setHeadDim(0).build()));
        assertTrue(e.getMessage().contains("head_dim"), e.getMessage());
        assertEquals(3, c.withHeads(3, 3).withHeads(6, 3).nKvHeads());
    }

    @Test
    void llama2cRefusesAnExplicitHeadDimNamingTheField() {
        LlamaModel m = TinyModels.random(pruned(), 5);
        var e = assertThrows(ModelFormatException.class, () -> ModelFiles.writeLlama2c(m, tmp.resolve("x.bin")));
        assertTrue(e.getMessage().contains("head_dim 4"), e.getMessage());
    }
}
