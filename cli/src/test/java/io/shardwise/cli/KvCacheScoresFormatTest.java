package io.shardwise.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Scores taken with a quantized KV cache (ModelScored.kv_cache) are shown apart from the float32 ones. */
class KvCacheScoresFormatTest {
    private static final Recipe RECIPE = Recipe.newBuilder()
            .addStages(StageSpec.newBuilder().setIndex(0).setKind(StageKind.QUANTIZE).setMethod("rtn").setName("quantize")).build();

    private static ModelScored score(int stage, String metric, String kv, double value, double baseline) {
        return ModelScored.newBuilder().setJobId("j1").setStageIndex(stage).setStageName(stage < 0 ? "" : "quantize")
                .setMethod(stage < 0 ? "" : "rtn").setMetric(metric).setDataset(metric.equals("bytes") ? "" : "tinystories")
                .setKvCache(kv).setValue(value).setBaselineValue(baseline).build();
    }

    @Test
    void tableHasAColumnPerKvTypeWithItsChangeAgainstTheSameModelsF32() {
        ScoreTable t = new ScoreTable(RECIPE)
                .add(score(-1, "bytes", "", 1000, 1000)).add(score(-1, "nll", "", 1.76, 1.76)).add(score(-1, "ppl", "", 5.8121, 5.8121))
                .add(score(-1, "nll", "int8", 1.9, 1.76)).add(score(-1, "ppl", "int8", 5.8123, 5.8121))
                .add(score(0, "ppl", "", 6.0, 5.8121)).add(score(0, "ppl", "int8", 6.06, 6.0));
        assertEquals(1.76, t.row(-1).metric("nll"), 0.0, "a KV-cache nll does not replace the f32 one");
        assertEquals(5.8121, t.row(-1).ppl().get("tinystories"), 0.0, "the f32 column keeps the f32 value");
        ScoreTable.KvColumn int8 = new ScoreTable.KvColumn("tinystories", "int8");
        assertEquals(100 * (5.8123 / 5.8121 - 1), t.kvChangePercent(-1, int8), 1e-9);
        assertEquals(1.0, t.kvChangePercent(0, int8), 1e-9);
        assertEquals(100 * (6.0 / 5.8121 - 1), t.changePercent(0, "tinystories"), 1e-9, "vs source stays f32 against f32");
        String[] lines = t.render().split("\n");
        assertEquals(4, lines.length, t.render());
        assertEquals(java.util.List.of("stage", "method", "bytes", "bpw", "sparsity", "ppl tinystories", "vs source", "ppl tinystories (kv int8)", "vs f32"),
                java.util.List.of(lines[0].trim().split("\\s{2,}")), lines[0]);
        assertTrue(lines[2].startsWith("source") && lines[2].contains("5.8121") && lines[2].contains("5.8123") && lines[2].contains("+0.003%"), lines[2]);
        assertTrue(lines[3].startsWith("0 quantize") && lines[3].contains("6.0600") && lines[3].endsWith("+1.000%"), lines[3]);
    }

    @Test
    void scoreLinesAndJsonNameTheKvCache() throws Exception {
        assertEquals("source ppl on tinystories (kv int4) = 5.8284 (f32 kv 5.8121, +0.280%)",
                JobFormat.score(score(-1, "ppl", "int4", 5.8284, 5.8121)));
        assertEquals("quantize ppl on tinystories = 6 (source 5.8121, +3.23%)", JobFormat.score(score(0, "ppl", "", 6.0, 5.8121)));
        assertEquals("source ppl on tinystories = 5.8121", JobFormat.score(score(-1, "ppl", "", 5.8121, 5.8121)));
        JsonNode kv = new ObjectMapper().readTree(Json.scored(score(0, "ppl", "int8", 6.06, 6.0)));
        assertEquals("int8", kv.get("kv_cache").asText());
        assertEquals(6.0, kv.get("baseline").asDouble(), 0.0);
        assertEquals("f32", new ObjectMapper().readTree(Json.scored(score(0, "ppl", "", 6.0, 5.8121))).get("kv_cache").asText());
        JsonNode eval = new ObjectMapper().readTree(Json.eval("m.bin", "t.txt", "int8", 100, 1.5, Math.exp(1.5), 4.4));
        assertEquals(7, eval.size());
        assertEquals("int8", eval.get("kv_cache").asText());
        assertEquals(4.4, eval.get("f32_ppl").asDouble(), 0.0);
    }

    @Test
    void watchedScoredEventsSayKv() {
        var e = io.shardwise.proto.v1.JobEvent.newBuilder().setJobId("j1").setSeq(9).setScored(score(0, "ppl", "int8", 6.06, 6.0)).build();
        assertEquals("score: quantize ppl on tinystories (kv int8) = 6.0600 (f32 kv 6, +1.000%)", new EventPrinter().recipe(RECIPE).line(e));
    }
}
