package io.shardwise.servicekit.testing;

import io.shardwise.kafka.TopicAdmin;
import io.shardwise.proto.v1.ShardEvent;
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

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A test's view of the broker: sends records and records everything that arrives on the topics it watches. */
public final class KafkaProbe implements AutoCloseable {
    private final KafkaProducer<String, byte[]> producer;
    private final List<ConsumerRecord<String, byte[]>> seen = new CopyOnWriteArrayList<>();
    private final Thread poller;
    private volatile boolean running = true;

    public KafkaProbe(String bootstrap, List<String> watched) {
        Map<String, Integer> topics = new java.util.LinkedHashMap<>();
        for (String t : watched) topics.put(t, 2);
        TopicAdmin.createTopics(bootstrap, topics);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, "probe-" + UUID.randomUUID());
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());
        consumer.subscribe(watched);
        poller = Thread.ofPlatform().daemon().name("kafka-probe").start(() -> {
            try (consumer) {
                while (running) consumer.poll(Duration.ofMillis(100)).forEach(seen::add);
            }
        });
    }

    public void send(String topic, String key, byte[] value) {
        try {
            producer.send(new ProducerRecord<>(topic, key, value)).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("could not send to " + topic, e);
        }
    }

    /** Waits until a record on {@code topic} matches, and returns it. */
    public ConsumerRecord<String, byte[]> await(String topic, Predicate<ConsumerRecord<String, byte[]>> match, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (ConsumerRecord<String, byte[]> r : seen) if (r.topic().equals(topic) && match.test(r)) return r;
            sleep(50);
        }
        throw new AssertionError("no matching record on " + topic + " within " + timeout + "; saw " + seen.size() + " records");
    }

    /** Shard events of one job and shard seen so far, in arrival order. */
    public List<ShardEvent> shardEvents(String topic, String jobId, String shardId) {
        List<ShardEvent> out = new ArrayList<>();
        for (ConsumerRecord<String, byte[]> r : seen) {
            if (!r.topic().equals(topic) || !jobId.equals(r.key())) continue;
            ShardEvent e = parse(r.value());
            if (e.getShardId().equals(shardId)) out.add(e);
        }
        return out;
    }

    /** Waits for the {@code n}-th non-progress shard event of a job's shard. */
    public ShardEvent awaitOutcome(String topic, String jobId, String shardId, int n, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            List<ShardEvent> outcomes = shardEvents(topic, jobId, shardId).stream().filter(e -> !e.hasProgress()).toList();
            if (outcomes.size() >= n) return outcomes.get(n - 1);
            sleep(50);
        }
        throw new AssertionError("job " + jobId + " shard " + shardId + ": fewer than " + n + " outcome events within " + timeout
                + "; got " + shardEvents(topic, jobId, shardId));
    }

    public static ShardEvent parse(byte[] bytes) {
        try {
            return ShardEvent.parseFrom(bytes);
        } catch (Exception e) {
            throw new AssertionError("not a ShardEvent", e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted");
        }
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        poller.join(5000);
        producer.close();
    }
}
