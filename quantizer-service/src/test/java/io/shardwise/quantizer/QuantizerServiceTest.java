package io.shardwise.quantizer;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.kafka.KafkaBrokerResource;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.servicekit.testing.TechniqueServiceContract;
import io.shardwise.servicekit.testing.TinyLlama;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The quantizer over a real KRaft broker: RTN tasks in, ShardDone out, plus the shared delivery contract. */
@QuarkusTest
@QuarkusTestResource(KafkaBrokerResource.class)
class QuantizerServiceTest extends TechniqueServiceContract {

    @Override
    protected String tasksTopic() {
        return "shardwise.quantize.tasks";
    }

    @Override
    protected StageSpec goodStage() {
        return StageSpec.newBuilder().setIndex(2).setKind(StageKind.QUANTIZE).setMethod("rtn").setName("quantize").putParams("type", "Q8_0").build();
    }

    @Override
    protected void checkDone(ShardDone done, LlamaModel input, ShardRef shard) throws Exception {
        int l = Integer.parseInt(shard.getShardId().substring("block.".length()));
        Map<String, Tensor> out = outputs(done);
        assertEquals(7, out.size(), "the block's 7 matrices; norms stay as they are");
        for (String n : TensorNames.blockMatrices(l)) {
            // the tiny model's hidden size 48 is not a multiple of 32, like stories260K's 172
            assertEquals(n.equals(TensorNames.ffnDown(l)) ? GgmlType.F16 : GgmlType.Q8_0, out.get(n).type(), n);
        }
        assertEquals(1.0, done.getStatsOrThrow("fallback_tensors"));
        assertEquals(List.of(TensorNames.ffnDown(l) + ": row 48 % 32 != 0 -> F16 fallback"), done.getNotesList());
    }

    @Test
    void perChannelInt4IsServedToo() throws Exception {
        StageSpec i4 = goodStage().toBuilder().putParams("type", "I4_ASYM_CH").putParams("ignore", "attn_v").build();
        ShardEvent e = runToOutcome(task(newJob("i4"), i4, TinyLlama.block(1)));
        assertTrue(e.hasDone(), e.toString());
        Map<String, Tensor> out = outputs(e.getDone());
        assertEquals(6, out.size(), "attn_v ignored");
        for (Tensor t : out.values()) assertEquals("I4_ASYM_CH", t.type().typeName(), t.name());
        assertEquals(0.0, e.getDone().getStatsOrThrow("fallback_tensors"));
    }
}
