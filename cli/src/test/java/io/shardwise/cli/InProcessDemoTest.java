package io.shardwise.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code demo --in-process --json}: the quantizer's own rtn class on stories260K, scored with the pinned protocol. */
class InProcessDemoTest {

    @Test
    void q8InProcessIsWithinHalfAPercentOfSourceAndQ4IsWorse(@TempDir Path dir) throws Exception {
        Path model = SharedData.stories260K();
        SharedData.require("text/tinystories/eval_sample.txt");
        Path recipe = dir.resolve("r.yaml");
        Files.writeString(recipe, """
                stages:
                  - quantize: { method: rtn, type: Q8_0 }
                  - quantize: { method: rtn, type: Q4_0, name: q4 }
                evaluate: { suites: [tinystories], max_tokens: 3000 }
                """);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int exit;
        try {
            System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
            exit = ShardwiseCli.commandLine().execute("demo", "--in-process", "--json", "--model", model.toString(),
                    "--recipe", recipe.toString(), "--dir", dir.resolve("run").toString());
        } finally {
            System.setOut(old);
        }
        assertEquals(0, exit);
        List<JsonNode> ppl = new ArrayList<>();
        for (String line : bytes.toString(StandardCharsets.UTF_8).split("\n")) {
            JsonNode n = new ObjectMapper().readTree(line);
            for (String key : List.of("job", "stage", "method", "metric", "dataset", "value")) assertTrue(n.has(key), key + " in " + line);
            if (n.get("metric").asText().equals("ppl")) ppl.add(n);
        }
        assertEquals(3, ppl.size(), "source, Q8_0, Q4_0");
        double src = ppl.get(0).get("value").asDouble(), q8 = ppl.get(1).get("value").asDouble(), q4 = ppl.get(2).get("value").asDouble();
        assertEquals("source", ppl.get(0).get("stage").asText());
        assertEquals(3000, ppl.get(1).get("tokens").asLong());
        assertTrue(q8 <= src * 1.005, "Q8_0 " + q8 + " vs fp32 " + src);
        assertTrue(q4 > q8, "Q4_0 " + q4 + " should be worse than Q8_0 " + q8);
        try (var files = Files.list(dir.resolve("run/output"))) {
            assertTrue(files.anyMatch(f -> f.toString().endsWith(".gguf")), "GGUF written");
        }
    }
}
