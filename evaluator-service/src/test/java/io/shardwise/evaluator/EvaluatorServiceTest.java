package io.shardwise.evaluator;

import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.work.Topics;
import io.shardwise.kafka.KafkaBrokerResource;
import io.shardwise.proto.v1.ModelScored;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.microprofile.config.ConfigProvider;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The service against an embedded KRaft broker: EvalTask in, ModelScored out; poisoned and failing tasks go to the DLQ. */
@QuarkusTest
@QuarkusTestResource(KafkaBrokerResource.class)
class EvaluatorServiceTest {

    @Test
    void scoresATaskAndSurvivesPoisonedAndFailingOnes() throws Exception {
        String bootstrap = ConfigProvider.getConfig().getValue("kafka.bootstrap.servers", String.class);
        ModelStore store = new ModelStore(new FileBlobStore(Path.of(ConfigProvider.getConfig().getValue("shardwise.blob-root", String.class))));
        String source = store.importModel(TestModels.tiny(3), "test:tiny", "tiny");
        String job = "job-" + UUID.randomUUID();
        try (KafkaProducer<String, byte[]> producer = producer(bootstrap);
             KafkaConsumer<String, byte[]> consumer = consumer(bootstrap, List.of(Topics.SCORES.topic, Topics.EVAL_TASKS.dlq()))) {
            String tasks = Topics.EVAL_TASKS.topic;
            producer.send(new ProducerRecord<>(tasks, "poison", "not a protobuf".getBytes(StandardCharsets.UTF_8))).get(30, TimeUnit.SECONDS);
            producer.send(new ProducerRecord<>(tasks, job, TestModels.task(job, -1, source, source, 0, "tiny").toByteArray())).get(30, TimeUnit.SECONDS);
            producer.send(new ProducerRecord<>(tasks, job + "-bad", TestModels.task(job + "-bad", 0, source, source, 0, "no-such-dataset").toByteArray())).get(30, TimeUnit.SECONDS);
            producer.send(new ProducerRecord<>(tasks, job + "-kv", TestModels.withKv(TestModels.task(job + "-kv", 0, source, source, 0, "tiny"), "int3")
                    .toByteArray())).get(30, TimeUnit.SECONDS);

            List<ConsumerRecord<String, byte[]>> seen = new ArrayList<>();
            awaitRecords(consumer, seen, recs -> countDone(recs, job) == 1 && countDone(recs, job + "-bad") == 1
                    && countDone(recs, job + "-kv") == 1 && dlq(recs).size() == 3);

            List<ModelScored> scores = new ArrayList<>();
            for (ConsumerRecord<String, byte[]> r : seen) {
                if (r.topic().equals(Topics.SCORES.topic) && r.key().equals(job)) scores.add(ModelScored.parseFrom(r.value()));
            }
            ModelScored ppl = scores.stream().filter(s -> s.getMetric().equals("ppl")).findFirst().orElseThrow();
            assertEquals("tiny", ppl.getDataset());
            assertTrue(ppl.getValue() > 1 && Double.isFinite(ppl.getValue()), ppl.toString());
            assertEquals(ppl.getValue(), ppl.getBaselineValue(), 1e-12, "the source is its own baseline");
            assertEquals(store.load(source).parameterCount(), scores.stream().filter(s -> s.getMetric().equals("params")).findFirst().orElseThrow().getValue());
            assertEquals("eval_done", scores.getLast().getMetric());

            List<ConsumerRecord<String, byte[]>> dlq = dlq(seen);
            String poisonError = header(dlq.stream().filter(r -> "poison".equals(r.key())).findFirst().orElseThrow());
            assertTrue(poisonError.contains("not an EvalTask"), poisonError);
            String badError = header(dlq.stream().filter(r -> (job + "-bad").equals(r.key())).findFirst().orElseThrow());
            assertTrue(badError.contains("no-such-dataset"), badError);
            assertTrue(seen.stream().anyMatch(r -> r.topic().equals(Topics.SCORES.topic) && r.key().equals(job + "-bad")
                    && parse(r).getMetric().equals("eval_failed")), "a failed evaluation is reported, not left hanging");
            ModelScored kvFailed = seen.stream().filter(r -> r.topic().equals(Topics.SCORES.topic) && r.key().equals(job + "-kv"))
                    .map(EvaluatorServiceTest::parse).filter(x -> x.getMetric().equals("eval_failed")).findFirst().orElseThrow();
            assertTrue(kvFailed.getError().contains("evaluate.kv_cache[0]: 'int3' is not a KV-cache type"), kvFailed.getError());
        }
    }

    private static long countDone(List<ConsumerRecord<String, byte[]>> recs, String job) {
        return recs.stream().filter(r -> r.topic().equals(Topics.SCORES.topic) && job.equals(r.key()) && parse(r).getMetric().equals("eval_done")).count();
    }

    private static List<ConsumerRecord<String, byte[]>> dlq(List<ConsumerRecord<String, byte[]>> recs) {
        return recs.stream().filter(r -> r.topic().equals(Topics.EVAL_TASKS.dlq())).toList();
    }

    private static String header(ConsumerRecord<String, byte[]> r) {
        return new String(r.headers().lastHeader(ScorePublisher.ERROR_HEADER).value(), StandardCharsets.UTF_8);
    }

    private static ModelScored parse(ConsumerRecord<String, byte[]> r) {
        try {
            return ModelScored.parseFrom(r.value());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static void awaitRecords(KafkaConsumer<String, byte[]> c, List<ConsumerRecord<String, byte[]>> seen,
                                     Predicate<List<ConsumerRecord<String, byte[]>>> done) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!done.test(seen)) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out; records so far: " + seen.stream().map(r -> r.topic() + "/" + r.key()).toList());
            c.poll(Duration.ofMillis(200)).forEach(seen::add);
        }
    }

    private static KafkaProducer<String, byte[]> producer(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    }

    private static KafkaConsumer<String, byte[]> consumer(String bootstrap, List<String> topics) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "test-" + UUID.randomUUID());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
        c.subscribe(topics);
        return c;
    }
}
