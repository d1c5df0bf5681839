package io.shardwise.servicekit;

import io.quarkus.arc.Arc;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.Topics;
import io.shardwise.kafka.KafkaBrokerResource;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.JobControl;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.StageTask;
import io.shardwise.servicekit.testing.KafkaProbe;
import io.shardwise.servicekit.testing.TechniqueServiceContract;
import io.shardwise.servicekit.testing.TinyLlama;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@QuarkusTest
@QuarkusTestResource(KafkaBrokerResource.class)
class ServiceKitTest extends TechniqueServiceContract {

    @Override
    protected String tasksTopic() {
        return "shardwise.kit-test.tasks";
    }

    @Override
    protected StageSpec goodStage() {
        return StageSpec.newBuilder().setIndex(0).setKind(StageKind.PRUNE).setMethod("echo").setName("prune").putParams("scale", "2").build();
    }

    @Override
    protected void checkDone(ShardDone done, LlamaModel input, ShardRef shard) throws Exception {
        assertEquals(7, done.getTensorsCount(), "the 7 block matrices, not the norms");
        assertEquals(7.0, done.getStatsOrThrow("matrices"));
        assertEquals(List.of("scaled by 2.0"), done.getNotesList());
        for (Map.Entry<String, Tensor> e : outputs(done).entrySet()) {
            assertEquals(GgmlType.F32, e.getValue().type());
            float[] in = input.tensor(e.getKey()).toFloats();
            float[] out = e.getValue().toFloats();
            for (int i = 0; i < in.length; i++) assertEquals(2 * in[i], out[i], 0f, e.getKey() + "[" + i + "]");
        }
    }

    @Test
    void aShardThatRemovesItsTensorsSaysSoInItsShardDoneAndOneOutsideItsShardFails() throws Exception {
        ShardRef block = TinyLlama.block(1);
        ShardEvent e = runToOutcome(task(newJob("drop"), goodStage().toBuilder().putParams("drop", "shard").build(), block));
        assertTrue(e.hasDone(), e.toString());
        assertEquals(block.getTensorsList().stream().sorted().toList(), e.getDone().getRemovedList());
        assertEquals(0, e.getDone().getTensorsCount(), "a removed tensor has no blob");
        ShardEvent stray = runToOutcome(task(newJob("stray"), goodStage().toBuilder().putParams("drop", "stray").build(), block));
        assertTrue(stray.hasFailed(), stray.toString());
        assertTrue(stray.getFailed().getError().contains("removed tensor blk.999.ffn_up.weight which is not in shard block.1"), stray.getFailed().getError());
    }

    @Test
    void tasksOfACancelledJobAreSkipped() throws Exception {
        String job = newJob("cancelled");
        probe().send(Topics.CONTROL.topic, job, JobControl.newBuilder().setJobId(job).setCancelled(true).setReason("test").build().toByteArray());
        CancelledJobs cancelled = Arc.container().instance(CancelledJobs.class).get();
        TaskStats stats = Arc.container().instance(TaskStats.class).get();
        await(() -> cancelled.isCancelled(job), "the control consumer saw the cancellation");
        long skipped = stats.skippedCancelled.get();
        StageTask t = task(job, goodStage(), TinyLlama.block(0));
        probe().send(tasksTopic(), job, t.toByteArray());
        await(() -> stats.skippedCancelled.get() == skipped + 1, "the task was skipped");
        assertEquals(List.of(), probe().shardEvents(Topics.SHARD_EVENTS.topic, job, "block.0"), "no event for a cancelled job");
    }

    @Test
    void capabilitiesArePublishedUnderTheServiceName() throws Exception {
        String bootstrap = ConfigProvider.getConfig().getValue("kafka.bootstrap.servers", String.class);
        try (KafkaProbe caps = new KafkaProbe(bootstrap, List.of(Topics.CAPABILITIES.topic))) {
            var r = caps.await(Topics.CAPABILITIES.topic, x -> "kit-test-service".equals(x.key()), TIMEOUT);
            Capabilities c = Capabilities.parseFrom(r.value());
            assertEquals(StageKind.PRUNE, c.getKind());
            assertEquals("echo", c.getTechniques(0).getMethod());
            assertEquals(StageKind.PRUNE, c.getTechniques(0).getKind());
            assertEquals(Runtime.getRuntime().maxMemory(), c.getMemoryBytes());
        }
    }

    @Test
    void receiptIdsNeverEscapeTheReceiptDirectory() {
        assertEquals("job-1", ShardReceipts.segment("job-1"));
        assertEquals("block.0", ShardReceipts.segment("block.0"));
        assertEquals("x-2e2e", ShardReceipts.segment(".."));
        assertEquals("x-612f62", ShardReceipts.segment("a/b"));
        assertArrayEquals(new String[]{"x-782d31"}, new String[]{ShardReceipts.segment("x-1")});
    }

    private static void await(java.util.function.BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting until " + what);
            Thread.sleep(50);
        }
    }
}
