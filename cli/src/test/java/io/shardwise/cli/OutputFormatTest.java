package io.shardwise.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.ShardCompleted;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OutputFormatTest {
    private static final Recipe RECIPE = Recipe.newBuilder()
            .addStages(StageSpec.newBuilder().setIndex(0).setKind(StageKind.PRUNE).setMethod("magnitude").setName("prune"))
            .addStages(StageSpec.newBuilder().setIndex(1).setKind(StageKind.QUANTIZE).setMethod("rtn").setName("quantize"))
            .build();

    private static ModelScored score(int stage, String metric, String dataset, double value) {
        return ModelScored.newBuilder().setJobId("j1").setStageIndex(stage).setStageName(stage < 0 ? "" : RECIPE.getStages(stage).getName())
                .setMethod(stage < 0 ? "" : RECIPE.getStages(stage).getMethod()).setMetric(metric).setDataset(dataset)
                .setValue(value).setBaselineValue(Double.NaN).build();
    }

    @Test
    void tableHasOneRowPerModelAndChangeAgainstSource() {
        ScoreTable t = new ScoreTable(RECIPE)
                .add(score(-1, "ppl", "tinystories", 5.8121)).add(score(-1, "bytes", "", 1_056_512)).add(score(-1, "bpw", "", 32))
                .add(score(-1, "params", "", 264_128)).add(score(-1, "nonzero_params", "", 264_128))
                .add(score(0, "ppl", "tinystories", 7.0)).add(score(0, "sparsity", "", 0.4))
                .add(score(1, "ppl", "tinystories", 7.01)).add(score(1, "bpw", "", 8.5)).add(score(1, "params", "", 100))
                .add(score(1, "nonzero_params", "", 60));
        assertEquals(3, t.rows().size());
        assertEquals(100 * (7.0 / 5.8121 - 1), t.changePercent(0, "tinystories"), 1e-9);
        assertEquals(0.4, t.row(1 - 1).sparsity(), 0);
        assertEquals(0.4, t.row(1).sparsity(), 1e-12); // from params and nonzero_params
        String text = t.render();
        String[] lines = text.split("\n");
        assertEquals(5, lines.length, text);
        assertTrue(lines[0].startsWith("stage") && lines[0].contains("ppl tinystories") && lines[0].contains("vs source"), text);
        assertTrue(lines[2].startsWith("source") && lines[2].contains("1,056,512") && lines[2].contains("5.8121"), text);
        assertTrue(lines[3].startsWith("0 prune") && lines[3].contains("magnitude") && lines[3].contains("40.0%") && lines[3].contains("+20.44%"), text);
        assertTrue(lines[4].contains("rtn") && lines[4].contains("8.50") && lines[4].contains("+20.61%"), text);
    }

    @Test
    void scoredJsonCarriesTheRequiredKeysAndNullForNaN() throws Exception {
        JsonNode n = new ObjectMapper().readTree(Json.scored(score(1, "ppl", "tinystories", 6.25).toBuilder().setTokens(15536).build()));
        assertEquals("j1", n.get("job").asText());
        assertEquals("quantize", n.get("stage").asText());
        assertEquals("rtn", n.get("method").asText());
        assertEquals("ppl", n.get("metric").asText());
        assertEquals("tinystories", n.get("dataset").asText());
        assertEquals(6.25, n.get("value").asDouble(), 0);
        assertEquals(15536, n.get("tokens").asLong());
        assertTrue(n.get("baseline").isNull());
        JsonNode src = new ObjectMapper().readTree(Json.scored(score(-1, "bytes", "", 10)));
        assertEquals("source", src.get("stage").asText());
        assertEquals(-1, src.get("stage_index").asInt());
    }

    @Test
    void evalJsonIsOneObjectWithTheFiveKeys() throws Exception {
        String line = Json.eval("m.bin", "eval_sample.txt", 15536, 1.75994, Math.exp(1.75994));
        assertEquals(1, line.lines().count());
        JsonNode n = new ObjectMapper().readTree(line);
        assertEquals(5, n.size());
        assertEquals(15536, n.get("tokens").asLong());
        assertEquals(1.75994, n.get("nll").asDouble(), 0);
    }

    @Test
    void progressLinesNameStageAndShard() {
        EventPrinter p = new EventPrinter().recipe(RECIPE);
        JobEvent e = JobEvent.newBuilder().setJobId("j1").setSeq(4).setShardCompleted(ShardCompleted.newBuilder()
                .setStageIndex(0).setShardId("block.3").setDoneCount(5).setShardCount(7)
                .setDone(ShardDone.newBuilder().setMillis(12).putStats("zeros", 512))).build();
        assertEquals("stage 0 prune/magnitude: shard block.3  done (5/7) 12 ms  zeros=512", p.line(e));
    }

    @Test
    void numbersReadAsPeopleExpect() {
        assertEquals("1056512", JobFormat.number(1_056_512));
        assertEquals("5.8121", JobFormat.number(5.81214));
        assertEquals("1.235e+04", JobFormat.number(12345.6));
    }
}
