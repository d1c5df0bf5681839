package io.shardwise.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code shardwise eval --json} on stories260K against the fp32 reference of shared/data/README.md. */
class EvalCommandTest {

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

    private static void checkReference(String text, long tokens, double referenceNll) throws Exception {
        Path model = SharedData.stories260K();
        Path file = SharedData.require(text);
        Run r = run("eval", "--model", model.toString(), "--text", file.toString(), "--json");
        assertEquals(0, r.exit(), r.err());
        assertEquals(1, r.out().lines().count(), "one JSON object: " + r.out());
        JsonNode n = new ObjectMapper().readTree(r.out());
        assertEquals(model.toString(), n.get("model").asText());
        assertEquals(file.toString(), n.get("dataset").asText());
        assertEquals(tokens, n.get("tokens").asLong());
        assertEquals(referenceNll, n.get("nll").asDouble(), 0.002, r.out());
        assertEquals(Math.exp(n.get("nll").asDouble()), n.get("ppl").asDouble(), 1e-9);
    }

    @Test
    void evalSampleMatchesReference() throws Exception {
        checkReference("text/tinystories/eval_sample.txt", 15_536, 1.75994);
    }

    @Test
    void trainHeadMatchesReference() throws Exception {
        checkReference("text/tinystories/train_head.txt", 100_707, 1.89870);
    }

    @Test
    void missingModelFileIsNamed() {
        Run r = run("eval", "--model", "/nonexistent/m.bin", "--text", "/nonexistent/t.txt", "--json");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("--model: /nonexistent/m.bin is not a file"), r.err());
    }

    @Test
    void greedyGenerationTellsLlama2cStory() {
        Path model = SharedData.stories260K();
        StringWriter out = new StringWriter();
        CommandLine cl = ShardwiseCli.commandLine();
        cl.setOut(new PrintWriter(out));
        assertEquals(0, cl.execute("generate", "--model", model.toString(), "--steps", "40"));
        assertTrue(out.toString().startsWith("Once upon a time, there was a little girl named Lily."), out.toString());
    }
}
