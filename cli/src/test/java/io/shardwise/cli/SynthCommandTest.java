package io.shardwise.cli;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code shardwise synth} on the small shape: a GGUF and an HF directory that read back; bad options named. */
class SynthCommandTest {
    @TempDir
    Path tmp;

    private static int run(StringWriter err, String... args) {
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setErr(new PrintWriter(err));
        return cl.execute(args);
    }

    @Test
    void writesAGgufAndAHuggingFaceDirectory() throws Exception {
        Path gguf = tmp.resolve("s.gguf");
        StringWriter err = new StringWriter();
        assertEquals(0, run(err, "synth", "--shape", "stories260k-like", "--type", "Q8_0", "--out", gguf.toString(), "--seed", "3"), err.toString());
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel m = GgufLlama.read(gguf, arena);
            assertEquals(512, m.config().vocabSize());
            assertEquals(GgmlType.Q8_0, m.tensor("blk.0.attn_q.weight").type());
        }
        Path dir = tmp.resolve("hf");
        assertEquals(0, run(err, "synth", "--shape", "stories260k-like", "--type", "bf16", "--format", "safetensors", "--out", dir.toString()), err.toString());
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")) && Files.isRegularFile(dir.resolve("config.json")));
    }

    @Test
    void badOptionsAreNamed() {
        StringWriter err = new StringWriter();
        assertNotEquals(0, run(err, "synth", "--shape", "llama-9b", "--out", tmp.resolve("x.gguf").toString()));
        assertTrue(err.toString().contains("--shape") && err.toString().contains("llama-3.2-1b"), err.toString());
        StringWriter err2 = new StringWriter();
        assertNotEquals(0, run(err2, "synth", "--shape", "stories260k-like", "--type", "Q8_0", "--format", "safetensors", "--out", tmp.resolve("d").toString()));
        assertTrue(err2.toString().contains("--type Q8_0"), err2.toString());
        assertTrue(Files.notExists(tmp.resolve("x.gguf")) && Files.notExists(tmp.resolve("d")));
    }
}
