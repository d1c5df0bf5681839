package io.shardwise.servicekit;

import com.google.protobuf.InvalidProtocolBufferException;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardFailed;
import io.shardwise.proto.v1.ShardProgress;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageTask;
import io.smallrye.common.annotation.Blocking;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.jboss.logging.Logger;
import org.jboss.logging.MDC;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The task loop every technique service runs (DESIGN.md "Delivery, failure, cancellation"): a task is
 * answered from its receipt if the shard is already done, else computed; a throwing task is retried with
 * backoff, then dead-lettered to {@code <topic>.dlq} and reported as ShardFailed; a poisoned message goes
 * straight to the DLQ; tasks of cancelled jobs are skipped. The method returns only when the outcome is
 * published, so the offset commit (after return) never runs ahead of the work.
 */
@ApplicationScoped
public class TaskConsumer {
    private static final Logger LOG = Logger.getLogger(TaskConsumer.class);
    private static final long PROGRESS_INTERVAL_MS = 500;

    @Inject
    ServiceConfig config;
    @Inject
    TechniqueRegistry techniques;
    @Inject
    ModelStore store;
    @Inject
    EventPublisher publisher;
    @Inject
    CancelledJobs cancelled;
    @Inject
    TaskStats stats;

    private ShardReceipts receipts;
    private ShardRunner runner;
    private String instance;

    @PostConstruct
    void init() {
        instance = config.instance().orElseGet(() -> config.serviceName() + "-" + ProcessHandle.current().pid() + "@" + hostName());
        receipts = new ShardReceipts(Path.of(config.blobRoot()));
        runner = new ShardRunner(store, instance);
    }

    public String instance() {
        return instance;
    }

    @Incoming("tasks")
    @Blocking
    public void onTask(ConsumerRecord<String, byte[]> record) {
        try {
            handle(record);
        } catch (RuntimeException | Error e) {
            // never let one record stop the channel; the record is lost only if even the DLQ is unreachable
            LOG.errorf(e, "task at %s-%d@%d could not be handled or dead-lettered", record.topic(), record.partition(), record.offset());
        }
    }

    private void handle(ConsumerRecord<String, byte[]> record) {
        StageTask task;
        try {
            task = StageTask.parseFrom(record.value() == null ? new byte[0] : record.value());
        } catch (InvalidProtocolBufferException e) {
            poison(record, null, "record is not a StageTask protobuf: " + e.getMessage());
            return;
        }
        String bad = ShardRunner.malformed(task);
        if (bad != null) {
            poison(record, task.getJobId().isBlank() ? null : task, "malformed StageTask: " + bad); // tell the job when we know it
            return;
        }
        String where = "[job " + task.getJobId() + " stage " + task.getStage().getIndex() + " shard " + task.getShard().getShardId() + "] ";
        MDC.put("job", task.getJobId());
        MDC.put("stage", Integer.toString(task.getStage().getIndex()));
        MDC.put("shard", task.getShard().getShardId());
        try {
            StageKind kind = task.getStage().getKind();
            if (kind != StageKind.STAGE_KIND_UNSPECIFIED && kind != techniques.kind()) {
                poison(record, task, "task of stage kind " + kind + " reached " + config.serviceName() + ", which serves " + techniques.kind());
                return;
            }
            Optional<ShardTechnique> technique = techniques.find(task.getStage().getMethod());
            if (technique.isEmpty()) {
                poison(record, task, "unknown method '" + task.getStage().getMethod() + "' for " + techniques.kind()
                        + " (known: " + String.join(", ", techniques.methods()) + ")");
                return;
            }
            runWithRetries(record, task, technique.get(), where);
        } finally {
            MDC.remove("job");
            MDC.remove("stage");
            MDC.remove("shard");
        }
    }

    private void runWithRetries(ConsumerRecord<String, byte[]> record, StageTask task, ShardTechnique technique, String where) {
        int attempts = Math.max(1, config.retry().attempts());
        Throwable last = null;
        for (int attempt = 1; attempt <= attempts; attempt++) {
            if (cancelled.isCancelled(task.getJobId())) {
                stats.skippedCancelled.incrementAndGet();
                LOG.infof("%sskipped: job is cancelled", where);
                return;
            }
            try {
                Optional<ShardEvent> receipt = receipts.find(task);
                if (receipt.isPresent()) {
                    publisher.shardEvent(receipt.get());
                    stats.replayed.incrementAndGet();
                    LOG.infof("%salready done (receipt %s): re-published its ShardDone, nothing recomputed", where, receipts.pathOf(task));
                    return;
                }
                LOG.infof("%s%s starting (attempt %d/%d, %d tensors)", where, technique.method(), attempt, attempts, task.getShard().getTensorsCount());
                ShardEvent done = runner.run(task, technique, progress(task));
                receipts.write(task, done);
                publisher.shardEvent(done);
                stats.computed.incrementAndGet();
                LOG.infof("%sdone in %d ms: %d tensors, stats %s", where, done.getDone().getMillis(), done.getDone().getTensorsCount(), done.getDone().getStatsMap());
                return;
            } catch (Exception | LinkageError | VirtualMachineError e) { // e.g. OutOfMemoryError: report it, do not lose the task
                last = e;
                stats.failedAttempts.incrementAndGet();
                LOG.warnf("%sattempt %d/%d failed: %s", where, attempt, attempts, describe(e));
                if (attempt < attempts && !sleep(backoff(attempt))) break;
            }
        }
        String error = technique.method() + ": " + describe(last); // the gateway adds stage, shard and attempts
        publisher.deadLetter(record.topic(), record.partition(), record.offset(), record.key(), record.value(), error, attempts);
        publisher.shardEvent(failed(task, error, attempts));
        stats.deadLettered.incrementAndGet();
        LOG.errorf(last, "%sdead-lettered to %s.dlq: %s", where, record.topic(), error);
    }

    /** A message no retry can fix: straight to the DLQ, and a ShardFailed when we know whose task it was. */
    private void poison(ConsumerRecord<String, byte[]> record, StageTask task, String error) {
        publisher.deadLetter(record.topic(), record.partition(), record.offset(), record.key(), record.value(), error, 0);
        if (task != null) publisher.shardEvent(failed(task, error, 0));
        stats.deadLettered.incrementAndGet();
        LOG.errorf("poisoned message at %s-%d@%d (key %s) dead-lettered to %s.dlq: %s", record.topic(), record.partition(), record.offset(), record.key(), record.topic(), error);
    }

    private ShardEvent failed(StageTask task, String error, int attempts) {
        return ShardEvent.newBuilder().setJobId(task.getJobId()).setStageIndex(task.getStage().getIndex())
                .setShardId(task.getShard().getShardId()).setInstance(instance)
                .setFailed(ShardFailed.newBuilder().setError(error).setAttempts(attempts).setDeadLettered(true)).build();
    }

    private ShardInput.Progress progress(StageTask task) {
        long[] last = {0};
        return (fraction, message) -> {
            long now = System.currentTimeMillis();
            if (now - last[0] < PROGRESS_INTERVAL_MS && fraction < 1) return;
            last[0] = now;
            publisher.progress(ShardEvent.newBuilder().setJobId(task.getJobId()).setStageIndex(task.getStage().getIndex())
                    .setShardId(task.getShard().getShardId()).setInstance(instance)
                    .setProgress(ShardProgress.newBuilder().setFraction(fraction).setMessage(message == null ? "" : message)).build());
        };
    }

    private Duration backoff(int failedAttempt) {
        Duration d = config.retry().backoff().multipliedBy(1L << Math.min(20, failedAttempt - 1));
        return d.compareTo(config.retry().maxBackoff()) > 0 ? config.retry().maxBackoff() : d;
    }

    private static boolean sleep(Duration d) {
        try {
            Thread.sleep(d);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null && sb.length() < 2000; t = t.getCause()) {
            if (!sb.isEmpty()) sb.append("; caused by ");
            sb.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
        }
        return sb.toString();
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            return "localhost";
        }
    }
}
