package io.shardwise.evaluator;

import com.google.protobuf.InvalidProtocolBufferException;
import io.shardwise.core.blob.Sha256;
import io.shardwise.proto.v1.EvalTask;
import io.shardwise.proto.v1.ModelScored;
import io.smallrye.common.annotation.Blocking;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.jboss.logging.Logger;
import org.jboss.logging.MDC;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The evaluator's Kafka adapter: an EvalTask from {@code shardwise.eval.tasks} in, its ModelScored
 * values out to {@code shardwise.scores} (key = job id), ending with the {@value ModelEvaluator#EVAL_DONE}
 * marker. A record that is not a valid EvalTask is dead-lettered at once; a task that keeps failing is
 * dead-lettered after the configured attempts and answered with {@code eval_failed} + the marker, so the
 * job does not wait forever. The method returns only after publishing, so offsets never run ahead.
 */
@ApplicationScoped
public class EvalTaskConsumer {
    public static final String EVAL_FAILED = "eval_failed";
    private static final Logger LOG = Logger.getLogger(EvalTaskConsumer.class);

    @Inject
    ModelEvaluator evaluator;
    @Inject
    ScorePublisher publisher;
    @Inject
    EvaluatorConfig config;

    final AtomicLong evaluated = new AtomicLong();
    final AtomicLong deadLettered = new AtomicLong();

    @Incoming("eval-tasks")
    @Blocking
    public void onTask(ConsumerRecord<String, byte[]> record) {
        try {
            handle(record);
        } catch (RuntimeException | Error e) {
            // one bad record must never stop the channel
            LOG.errorf(e, "eval task at %s-%d@%d could not be handled or dead-lettered", record.topic(), record.partition(), record.offset());
        }
    }

    private void handle(ConsumerRecord<String, byte[]> record) {
        EvalTask task;
        try {
            task = EvalTask.parseFrom(record.value() == null ? new byte[0] : record.value());
        } catch (InvalidProtocolBufferException e) {
            poison(record, "record is not an EvalTask protobuf: " + e.getMessage());
            return;
        }
        String bad = malformed(task);
        if (bad != null) {
            poison(record, "malformed EvalTask: " + bad);
            return;
        }
        MDC.put("job", task.getJobId());
        MDC.put("stage", Integer.toString(task.getStageIndex()));
        MDC.put("shard", "model");
        try {
            run(record, task);
        } finally {
            MDC.remove("job");
            MDC.remove("stage");
            MDC.remove("shard");
        }
    }

    private void run(ConsumerRecord<String, byte[]> record, EvalTask task) {
        String where = "[job " + task.getJobId() + " stage " + task.getStageIndex() + " shard model] ";
        int attempts = Math.max(1, config.evaluator().attempts());
        Exception last = null;
        for (int attempt = 1; attempt <= attempts; attempt++) {
            try {
                long t0 = System.nanoTime();
                LOG.infof("%sevaluating %s on %s, KV caches f32 %s (attempt %d/%d)", where, task.getManifest().substring(0, 12),
                        task.getSpec().getDatasetsList(), task.getSpec().getKvCacheList(), attempt, attempts);
                List<ModelScored> scores = evaluator.evaluate(task);
                for (ModelScored s : scores) publisher.scored(s);
                evaluated.incrementAndGet();
                LOG.infof("%sdone in %d ms: %d scores published", where, (System.nanoTime() - t0) / 1_000_000, scores.size());
                return;
            } catch (Exception e) {
                last = e;
                LOG.warnf(e, "%sattempt %d/%d failed: %s", where, attempt, attempts, describe(e));
            }
        }
        String error = "evaluation of " + task.getManifest() + " failed after " + attempts + " attempts: " + describe(last);
        publisher.deadLetter(record.topic(), record.partition(), record.offset(), record.key(), record.value(), error, attempts);
        deadLettered.incrementAndGet();
        ModelScored.Builder b = ModelScored.newBuilder().setJobId(task.getJobId()).setStageIndex(task.getStageIndex())
                .setStageName(task.getStageName()).setMethod(task.getMethod()).setManifest(task.getManifest())
                .setValue(Double.NaN).setBaselineValue(Double.NaN);
        publisher.scored(b.clone().setMetric(EVAL_FAILED).setError(error).build());
        publisher.scored(b.clone().setMetric(ModelEvaluator.EVAL_DONE).build());
        LOG.errorf("%sdead-lettered to %s.dlq: %s", where, record.topic(), error);
    }

    /** Why a parsed task cannot be run, or null. */
    static String malformed(EvalTask t) {
        if (t.getJobId().isBlank()) return "job_id is empty";
        if (t.getManifest().isBlank()) return "manifest is empty";
        try {
            Sha256.requireValid(t.getManifest());
            if (!t.getSourceManifest().isEmpty()) Sha256.requireValid(t.getSourceManifest());
        } catch (IllegalArgumentException e) {
            return "manifest/source_manifest: " + e.getMessage();
        }
        if (t.getSpec().getMaxTokens() < 0) return "spec.max_tokens is negative (" + t.getSpec().getMaxTokens() + ")";
        return null;
    }

    private void poison(ConsumerRecord<String, byte[]> record, String error) {
        publisher.deadLetter(record.topic(), record.partition(), record.offset(), record.key(), record.value(), error, 0);
        deadLettered.incrementAndGet();
        LOG.errorf("poisoned message at %s-%d@%d (key %s) dead-lettered to %s.dlq: %s", record.topic(), record.partition(),
                record.offset(), record.key(), record.topic(), error);
    }

    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null && sb.length() < 2000; t = t.getCause()) {
            if (!sb.isEmpty()) sb.append("; caused by ");
            sb.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
        }
        return sb.toString();
    }
}
