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

    /** 100k tokens through the CLI (core's Stories260KTest scores the same file through the same Perplexity): opt-in. */
    @Test
    void trainHeadMatchesReference() throws Exception {
        if (!Boolean.getBoolean("shardwise.quality.wikitext")) {
            String reason = "skipped: train_head through the CLI runs with -Dshardwise.quality.wikitext=true (core Stories260KTest checks it in every build)";
            System.out.println(reason);
            org.junit.jupiter.api.Assumptions.abort(reason);
        }
        checkReference("text/tinystories/train_head.txt", 100_707, 1.89870);
    }

    @Test
    void kvCacheScoresInt8AndInt4BesideF32() throws Exception {
        Path model = SharedData.stories260K();
        Path file = SharedData.require("text/tinystories/eval_sample.txt");
        Run r = run("eval", "--model", model.toString(), "--text", file.toString(), "--kv-cache", "int8,int4", "--json");
        assertEquals(0, r.exit(), r.err());
        java.util.List<JsonNode> lines = new java.util.ArrayList<>();
        for (String l : r.out().lines().toList()) lines.add(new ObjectMapper().readTree(l));
        assertEquals(java.util.List.of("f32", "int8", "int4"), lines.stream().map(n -> n.get("kv_cache").asText()).toList(), r.out());
        double f32 = lines.get(0).get("ppl").asDouble(), i8 = lines.get(1).get("ppl").asDouble(), i4 = lines.get(2).get("ppl").asDouble();
        System.out.printf("shardwise eval --kv-cache int8,int4 on stories260K eval_sample: ppl f32 %.4f, int8 %.4f (%+.3f%%), int4 %.4f (%+.3f%%)%n",
                f32, i8, 100 * (i8 / f32 - 1), i4, 100 * (i4 / f32 - 1));
        assertEquals(1.75994, lines.get(0).get("nll").asDouble(), 0.002, "the f32 line is the reference");
        for (JsonNode n : lines) {
            assertEquals(15_536, n.get("tokens").asLong());
            assertEquals(f32, n.get("f32_ppl").asDouble(), 0.0);
            assertEquals(Math.exp(n.get("nll").asDouble()), n.get("ppl").asDouble(), 1e-9);
        }
        assertTrue(i8 != f32 && Math.abs(i8 / f32 - 1) < 0.005, "KV int8 within 0.5% of fp32: " + r.out());
        assertTrue(i4 > i8, "int4 is worse than int8: " + r.out());
    }

    @Test
    void kvCacheLinesSayWhichCacheAndTheChangeVsF32() {
        Path model = SharedData.stories260K();
        Path file = SharedData.require("text/tinystories/eval_sample.txt");
        Run r = run("eval", "--model", model.toString(), "--text", file.toString(), "--max-tokens", "2000", "--kv-cache", "INT8");
        assertEquals(0, r.exit(), r.err());
        java.util.List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size(), r.out());
        assertTrue(lines.get(0).startsWith(model + " on " + file + ": 2000 tokens"), r.out());
        assertTrue(lines.get(1).startsWith(model + " on " + file + " (kv int8): 2000 tokens") && lines.get(1).contains("% vs f32 kv"), r.out());
    }

    @Test
    void badKvCacheTypesAreRefusedNamingTheOption() {
        Run unknown = run("eval", "--model", "/nonexistent/m.bin", "--text", "/nonexistent/t.txt", "--kv-cache", "int8,int3");
        assertEquals(1, unknown.exit());
        assertTrue(unknown.err().contains("--kv-cache: 'int3' is not a KV-cache type (known: int8, int4)"), unknown.err());
        Run f32 = run("eval", "--model", "/nonexistent/m.bin", "--text", "/nonexistent/t.txt", "--kv-cache", "f32");
        assertEquals(1, f32.exit());
        assertTrue(f32.err().contains("--kv-cache: 'f32' is always scored"), f32.err());
        Run twice = run("eval", "--model", "/nonexistent/m.bin", "--text", "/nonexistent/t.txt", "--kv-cache", "int4", "--kv-cache", "int4");
        assertEquals(1, twice.exit());
        assertTrue(twice.err().contains("--kv-cache: 'int4' is listed twice"), twice.err());
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
