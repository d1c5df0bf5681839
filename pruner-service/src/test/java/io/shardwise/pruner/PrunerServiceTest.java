package io.shardwise.pruner;

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

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pruner over a real KRaft broker: magnitude tasks in, ShardDone out, plus the shared delivery contract. */
@QuarkusTest
@QuarkusTestResource(KafkaBrokerResource.class)
class PrunerServiceTest extends TechniqueServiceContract {

    @Override
    protected String tasksTopic() {
        return "shardwise.prune.tasks";
    }

    @Override
    protected StageSpec goodStage() {
        return StageSpec.newBuilder().setIndex(0).setKind(StageKind.PRUNE).setMethod("magnitude").setName("prune").putParams("pattern", "2:4").build();
    }

    @Override
    protected void checkDone(ShardDone done, LlamaModel input, ShardRef shard) throws Exception {
        int l = Integer.parseInt(shard.getShardId().substring("block.".length()));
        Map<String, Tensor> out = outputs(done);
        assertEquals(TensorNames.blockMatrices(l).size(), out.size(), "only the block's matrices are pruned");
        for (String n : TensorNames.blockMatrices(l)) {
            Tensor t = out.get(n);
            assertEquals(GgmlType.F32, t.type());
            MagnitudePruningTest.assertNOfM(input.tensor(n).toFloats(), t.toFloats(), t.cols(), 2, 4, n);
        }
        assertEquals(0.5, done.getStatsOrThrow("zeros") / done.getStatsOrThrow("elements"), 0.0);
    }

    @Test
    void unstructuredSparsityHitsItsTargetPerMatrix() throws Exception {
        StageSpec s = goodStage().toBuilder().putParams("pattern", "unstructured").putParams("sparsity", "0.3").build();
        ShardEvent e = runToOutcome(task(newJob("unstructured"), s, TinyLlama.block(1)));
        assertTrue(e.hasDone(), e.toString());
        for (Tensor t : outputs(e.getDone()).values()) {
            long zeros = 0;
            for (float v : t.toFloats()) if (v == 0f) zeros++;
            assertEquals(Math.round(0.3 * t.elements()), zeros, t.name());
        }
    }
}
