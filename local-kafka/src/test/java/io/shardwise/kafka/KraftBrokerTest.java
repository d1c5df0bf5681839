package io.shardwise.kafka;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KraftBrokerTest {

    @Test
    void producesAndConsumesOnExplicitAndAutoCreatedTopics(@TempDir Path dir) throws Exception {
        try (KraftBroker broker = KraftBroker.start(dir, 0)) {
            broker.createTopics(Map.of("demo.tasks", 3));
            assertEquals(3, TopicAdmin.partitions(broker.bootstrapServers(), "demo.tasks"));
            send(broker.bootstrapServers(), "demo.tasks", "job-1", "hello");
            send(broker.bootstrapServers(), "auto.created", "job-2", "world");
            assertEquals(List.of("job-1=hello"), read(broker.bootstrapServers(), "demo.tasks", 1));
            assertEquals(List.of("job-2=world"), read(broker.bootstrapServers(), "auto.created", 1));
            assertEquals(KraftBroker.DEFAULT_PARTITIONS, TopicAdmin.partitions(broker.bootstrapServers(), "auto.created"));
        }
        try (KraftBroker again = KraftBroker.start(dir, 0)) { // a restarted local stack keeps its cluster id and topics
            assertEquals(3, TopicAdmin.partitions(again.bootstrapServers(), "demo.tasks"));
        }
    }

    @Test
    void mainPrintsReadyLineAndStopsOnSigterm(@TempDir Path dir) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Xmx384m", "-cp", System.getProperty("java.class.path"),
                KraftBroker.class.getName(), "--dir", dir.toString(), "--port", "0", "--topics", "a.tasks:2")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            assertTrue(line != null && line.matches("KAFKA_READY localhost:\\d+"), "first stdout line: " + line);
            String bootstrap = line.substring("KAFKA_READY ".length());
            List<String> rest = new java.util.concurrent.CopyOnWriteArrayList<>();
            Thread drain = Thread.ofVirtual().start(() -> out.lines().forEach(rest::add));
            assertEquals(2, TopicAdmin.partitions(bootstrap, "a.tasks"));
            send(bootstrap, "a.tasks", "k", "v");
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "broker JVM did not stop on SIGTERM");
            drain.join(10_000);
            assertEquals(List.of(), rest, "only one line on stdout");
            assertEquals(0, p.exitValue() == 143 ? 0 : p.exitValue(), "exit status after SIGTERM");
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void badTopicListIsRefusedNamingTheEntry() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TopicAdmin.parseTopicList("a:2,b:x"));
        assertTrue(e.getMessage().contains("'b:x'"), e.getMessage());
        assertEquals(Map.of("a", 2, "c", KraftBroker.DEFAULT_PARTITIONS), TopicAdmin.parseTopicList("a:2, c"));
    }

    static void send(String bootstrap, String topic, String key, String value) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            producer.send(new ProducerRecord<>(topic, key, value)).get(30, TimeUnit.SECONDS);
        }
    }

    static List<String> read(String bootstrap, String topic, int n) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "test-" + topic);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<String> got = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            c.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (got.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) got.add(r.key() + "=" + r.value());
            }
        }
        return got;
    }
}
