package io.shardwise.cli;

import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code shardwise convert} through every format on stories260K, and its option errors. */
class ConvertCommandTest {
    @TempDir
    Path tmp;

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void llama2cToGgufToSafetensorsToLlama2cKeepsEveryTensor() throws Exception {
        Path bin = SharedData.stories260K();
        Path gguf = tmp.resolve("s.gguf"), hf = tmp.resolve("s-hf"), back = tmp.resolve("back").resolve("s.bin"), q8 = tmp.resolve("s-q8.gguf");
        Run r = run("convert", "--in", bin.toString(), "--out", gguf.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("(llama2c) -> " + gguf + " (gguf)"), r.out());
        r = run("convert", "--in", gguf.toString(), "--out", hf.toString(), "--max-shard-size", "400000");
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.isRegularFile(hf.resolve("model.safetensors.index.json")), "sharded");
        r = run("convert", "--in", hf.toString(), "--out", back.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.isRegularFile(back.resolveSibling("tok512.bin")));
        r = run("convert", "--in", hf.toString(), "--out", q8.toString(), "--type", "q8_0");
        assertEquals(0, r.exit(), r.err());
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel src = ModelFiles.open(bin, arena), b = ModelFiles.open(back, arena), q = ModelFiles.open(q8, arena);
            assertEquals(src.config(), b.config());
            for (Tensor t : src.tensors().values()) assertEquals(-1, t.data().mismatch(b.tensor(t.name()).data()), t.name());
            assertEquals(GgmlType.Q8_0, q.tensor("blk.0.attn_q.weight").type());
            assertEquals(src.vocabulary().scores().length, b.vocabulary().scores().length);
        }
    }

    @Test
    void badOptionsAreNamed() throws Exception {
        Path bin = SharedData.stories260K();
        Run r = run("convert", "--in", bin.toString(), "--out", tmp.resolve("x").toString(), "--type", "Q4_0");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("--type: safetensors holds dense F32, F16 or BF16, not Q4_0"), r.err());
        r = run("convert", "--in", bin.toString(), "--out", tmp.resolve("x.gguf").toString(), "--type", "Q9_9");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("--type: unknown type 'Q9_9'"), r.err());
        r = run("convert", "--in", tmp.resolve("none.gguf").toString(), "--out", tmp.resolve("y.gguf").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("none.gguf"), r.err());
    }
}
