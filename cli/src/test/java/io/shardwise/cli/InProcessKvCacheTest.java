package io.shardwise.cli;

import io.shardwise.proto.v1.ModelScored;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-process chain honours {@code evaluate.kv_cache} as the evaluator does: int8-KV ppl per model, against its own f32 value. */
class InProcessKvCacheTest {

    @Test
    void everyModelIsScoredAgainWithAnInt8KvCache(@TempDir Path dir) throws Exception {
        Path model = SharedData.stories260K();
        SharedData.require("text/tinystories/eval_sample.txt");
        String yaml = """
                stages:
                  - quantize: { method: rtn, type: Q8_0 }
                evaluate: { suites: [tinystories], max_tokens: 3000, kv_cache: [int8] }
                """;
        List<String> log = new ArrayList<>();
        InProcessChain.Result r = new InProcessChain(dir.resolve("blobs"), dir.resolve("out"), RepoLayout.find(), log::add).run(model, yaml);
        ScoreTable.KvColumn int8 = new ScoreTable.KvColumn("tinystories", "int8");
        for (int stage : new int[]{-1, 0}) {
            ScoreTable.Row row = r.table().row(stage);
            double f32 = row.ppl().get("tinystories"), kv = row.kvPpl().get(int8);
            assertTrue(kv != f32 && Math.abs(kv / f32 - 1) < 0.005, "stage " + stage + ": int8 KV " + kv + " vs f32 " + f32);
        }
        String table = r.table().render();
        System.out.print(table);
        assertTrue(table.lines().findFirst().orElseThrow().contains("ppl tinystories (kv int8)"), table);
        assertTrue(log.stream().anyMatch(l -> l.contains("ppl on tinystories (kv int8) = ") && l.contains("f32 kv")), String.join("\n", log));
    }
}
