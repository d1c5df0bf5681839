package io.shardwise.distiller;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.Topics;
import io.shardwise.kafka.KafkaBrokerResource;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.servicekit.testing.KafkaProbe;
import io.shardwise.servicekit.testing.TechniqueServiceContract;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The distiller's Quarkus adapter over a real KRaft broker: a whole-model kd task on stories260K (2 steps,
 * teacher = the same model) plus the shared delivery contract. Skips, saying why, when shared data is absent.
 */
@QuarkusTest
@QuarkusTestResource(KafkaBrokerResource.class)
class DistillerServiceTest extends TechniqueServiceContract {
    private static LlamaModel stories;

    @Override
    protected LlamaModel model() throws Exception {
        if (stories != null) return stories;
        Path dir = Path.of(System.getProperty("shardwise.shared", "../shared"), "data", "stories260K");
        Path text = Path.of(ConfigProvider.getConfig().getValue("shardwise.data-dir", String.class), "text", "tinystories", "train_head.txt");
        for (Path p : List.of(dir.resolve("stories260K.bin"), text)) {
            Assumptions.assumeTrue(Files.exists(p), () -> {
                System.out.println("skipped: " + p + " is absent (shared data not mounted)");
                return "shared data absent: " + p;
            });
        }
        stories = Llama2cCheckpoint.read(dir.resolve("stories260K.bin"), dir.resolve("tok512.bin"), Arena.ofShared());
        return stories;
    }

    @Override
    protected ShardRef shard(int i) {
        return ShardRef.newBuilder().setShardId("model").setIndex(0).addAllTensors(stories.tensors().keySet()).build();
    }

    @Override
    protected String tasksTopic() {
        return "shardwise.distill.tasks";
    }

    @Override
    protected StageSpec goodStage() {
        return StageSpec.newBuilder().setIndex(1).setKind(StageKind.DISTILL).setMethod("kd").setName("distill")
                .putAllParams(Map.of("steps", "2", "batch", "1", "seq_len", "16", "dataset", "tinystories-train", "seed", "7")).build();
    }

    @Override
    protected void checkDone(ShardDone done, LlamaModel input, ShardRef shard) throws Exception {
        assertEquals(2.0, done.getStatsOrThrow("kd_steps"));
        assertTrue(Double.isFinite(done.getStatsOrThrow("kd_loss_first")) && Double.isFinite(done.getStatsOrThrow("kd_loss_last")), done.getStatsMap().toString());
        assertTrue(done.getTensorsCount() > 0, "kd returns trained tensors");
        for (Tensor t : outputs(done).values()) {
            assertEquals(GgmlType.F32, t.type(), t.name());
            assertEquals(List.of(input.tensor(t.name()).shape()[0]), List.of(t.shape()[0]), t.name());
        }
    }

    @Test
    void capabilitiesAdvertiseKdAsAWholeModelDistillTechnique() throws Exception {
        String bootstrap = ConfigProvider.getConfig().getValue("kafka.bootstrap.servers", String.class);
        try (KafkaProbe caps = new KafkaProbe(bootstrap, List.of(Topics.CAPABILITIES.topic))) {
            var r = caps.await(Topics.CAPABILITIES.topic, x -> "distiller-service".equals(x.key()), TIMEOUT);
            Capabilities c = Capabilities.parseFrom(r.value());
            assertEquals(StageKind.DISTILL, c.getKind());
            assertEquals(List.of("kd"), c.getTechniquesList().stream().map(t -> t.getMethod()).toList());
            assertTrue(c.getMemoryBytes() > 0);
        }
    }
}
