package io.shardwise.servicekit.testing;

import io.quarkus.arc.Arc;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.StageTask;
import io.shardwise.servicekit.EventPublisher;
import io.shardwise.servicekit.TaskStats;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The delivery contract every technique service keeps (DESIGN.md "Delivery, failure, cancellation"),
 * run against the real service over a real KRaft broker. A service test extends this with
 * {@code @QuarkusTest @QuarkusTestResource(KafkaBrokerResource.class)} and says what a good stage is and
 * what its output must look like.
 */
public abstract class TechniqueServiceContract {
    protected static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final String EVENTS = Topics.SHARD_EVENTS.topic;
    private static KafkaProbe probe;
    private static ModelStore store;
    private static String tinyManifest;
    private static LlamaModel tiny;

    /** The service's task topic, e.g. {@code shardwise.quantize.tasks}. */
    protected abstract String tasksTopic();

    /** A stage this service runs successfully on a tiny block. */
    protected abstract StageSpec goodStage();

    /** Service-specific checks of a good shard's ShardDone (types, stats, notes). */
    protected abstract void checkDone(ShardDone done, LlamaModel input, ShardRef shard) throws Exception;

    /** The model the tasks run on (imported once per test class); a small random Llama unless overridden. */
    protected LlamaModel model() throws Exception {
        return TinyLlama.build(42);
    }

    /** The i-th shard a good task may name (i = 0, 1); whole-model techniques override this with shard "model". */
    protected ShardRef shard(int i) {
        return TinyLlama.block(i);
    }

    @BeforeEach
    void connect() throws Exception {
        if (probe != null) return;
        LlamaModel m = model(); // may skip (assumption) before anything connects
        String bootstrap = ConfigProvider.getConfig().getValue("kafka.bootstrap.servers", String.class);
        probe = new KafkaProbe(bootstrap, List.of(EVENTS, tasksTopic() + ".dlq"));
        store = new ModelStore(new FileBlobStore(Path.of(ConfigProvider.getConfig().getValue("shardwise.blob-root", String.class))));
        tiny = m;
        tinyManifest = store.importModel(tiny, "test:tiny-llama", "tiny");
    }

    @AfterAll
    static void disconnect() throws Exception {
        if (probe != null) probe.close();
        probe = null;
    }

    protected static KafkaProbe probe() {
        return probe;
    }

    /** The imported model's manifest digest. */
    protected static String manifest() {
        return tinyManifest;
    }

    protected static ModelStore store() {
        return store;
    }

    protected StageTask task(String jobId, StageSpec stage, ShardRef shard) {
        return StageTask.newBuilder().setJobId(jobId).setStage(stage).setShard(shard).setInputManifest(tinyManifest)
                .setSourceManifest(tinyManifest).setShardCount(4).setIssuedAtMs(System.currentTimeMillis()).build();
    }

    protected ShardEvent runToOutcome(StageTask task) {
        probe.send(tasksTopic(), task.getJobId(), task.toByteArray());
        return probe.awaitOutcome(EVENTS, task.getJobId(), task.getShard().getShardId(), 1, TIMEOUT);
    }

    protected static String newJob(String what) {
        return what + "-" + UUID.randomUUID();
    }

    private static TaskStats stats() {
        return Arc.container().instance(TaskStats.class).get();
    }

    @Test
    void aBlockTaskCompletesWithStoredTensors() throws Exception {
        ShardRef shard = shard(0);
        ShardEvent e = runToOutcome(task(newJob("good"), goodStage(), shard));
        assertTrue(e.hasDone(), "expected ShardDone, got " + e);
        assertEquals(shard.getShardId(), e.getShardId());
        for (var t : e.getDone().getTensorsList()) {
            assertTrue(store.blobs().exists(t.getBlob()), "output blob of " + t.getName() + " is stored");
            assertTrue(shard.getTensorsList().contains(t.getName()), t.getName() + " belongs to the shard");
        }
        checkDone(e.getDone(), tiny, shard);
    }

    @Test
    void garbageGoesToTheDlqAndTheNextTaskStillCompletes() {
        String key = newJob("garbage");
        byte[] garbage = new byte[16];
        Arrays.fill(garbage, (byte) 0xFF); // an unterminated varint: no protobuf parser accepts it
        probe.send(tasksTopic(), key, garbage);
        ConsumerRecord<String, byte[]> dead = probe.await(tasksTopic() + ".dlq", r -> key.equals(r.key()), TIMEOUT);
        assertArrayEquals(garbage, dead.value(), "the DLQ keeps the original bytes");
        assertTrue(header(dead, EventPublisher.ERROR_HEADER).contains("not a StageTask"), header(dead, EventPublisher.ERROR_HEADER));

        ShardEvent next = runToOutcome(task(newJob("after-garbage"), goodStage(), shard(1)));
        assertTrue(next.hasDone(), "the consumer goes on after a poisoned message: " + next);
    }

    @Test
    void anUnknownMethodIsDeadLetteredNamingTheKnownOnes() {
        StageSpec bad = goodStage().toBuilder().setMethod("no-such-method").build();
        StageTask t = task(newJob("unknown-method"), bad, shard(0));
        ShardEvent e = runToOutcome(t);
        assertTrue(e.hasFailed() && e.getFailed().getDeadLettered(), e.toString());
        assertTrue(e.getFailed().getError().contains("unknown method 'no-such-method'") && e.getFailed().getError().contains(goodStage().getMethod()),
                e.getFailed().getError());
        probe.await(tasksTopic() + ".dlq", r -> t.getJobId().equals(r.key()), TIMEOUT);
    }

    @Test
    void aTaskThatKeepsFailingIsRetriedThenDeadLettered() {
        long failedBefore = stats().failedAttempts.get();
        ShardRef broken = shard(0).toBuilder().addTensors("blk.0.missing.weight").build();
        StageTask t = task(newJob("always-fails"), goodStage(), broken);
        ShardEvent e = runToOutcome(t);
        assertTrue(e.hasFailed(), e.toString());
        int attempts = ConfigProvider.getConfig().getOptionalValue("shardwise.retry.attempts", Integer.class).orElse(3);
        assertEquals(attempts, e.getFailed().getAttempts());
        assertTrue(e.getFailed().getDeadLettered());
        assertTrue(e.getFailed().getError().contains("manifest has no tensor blk.0.missing.weight"), e.getFailed().getError());
        assertTrue(stats().failedAttempts.get() - failedBefore >= attempts, "each attempt ran");
        ConsumerRecord<String, byte[]> dead = probe.await(tasksTopic() + ".dlq", r -> t.getJobId().equals(r.key()), TIMEOUT);
        assertArrayEquals(t.toByteArray(), dead.value());
        assertTrue(header(dead, EventPublisher.ERROR_HEADER).contains("manifest has no tensor"));
        assertEquals(Integer.toString(attempts), header(dead, EventPublisher.ATTEMPTS_HEADER));
    }

    @Test
    void aRedeliveredFinishedTaskIsRepublishedNotRecomputed() {
        StageTask t = task(newJob("redelivered"), goodStage(), shard(1));
        ShardEvent first = runToOutcome(t);
        assertTrue(first.hasDone(), first.toString());
        long computed = stats().computed.get();
        long replayed = stats().replayed.get();

        probe.send(tasksTopic(), t.getJobId(), t.toByteArray()); // what a redelivery after a crash looks like
        ShardEvent second = probe.awaitOutcome(EVENTS, t.getJobId(), t.getShard().getShardId(), 2, TIMEOUT);
        assertEquals(first, second, "the receipt's event, byte for byte (same blob digests, same millis)");
        assertEquals(computed, stats().computed.get(), "nothing recomputed");
        assertEquals(replayed + 1, stats().replayed.get());
    }

    /** The output tensors of a ShardDone, mapped from the blob store. */
    protected static java.util.Map<String, io.shardwise.core.tensor.Tensor> outputs(ShardDone done) throws Exception {
        ModelManifest m = ModelManifest.newBuilder().addAllTensors(done.getTensorsList()).build();
        return store.tensors(m, done.getTensorsList().stream().map(x -> x.getName()).toList());
    }

    protected static String header(ConsumerRecord<String, byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? "" : new String(h.value(), StandardCharsets.UTF_8);
    }
}
