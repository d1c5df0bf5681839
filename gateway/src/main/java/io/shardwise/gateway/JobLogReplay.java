package io.shardwise.gateway;

import com.google.protobuf.InvalidProtocolBufferException;
import io.shardwise.proto.v1.JobEvent;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;

/** Reads a job-event topic from its beginning to its current end (no consumer group, nothing committed). */
final class JobLogReplay {
    private static final Logger LOG = Logger.getLogger(JobLogReplay.class);

    private JobLogReplay() {
    }

    static int readAll(String bootstrap, String topic, Duration timeout, Consumer<JobEvent> sink) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        long deadline = System.nanoTime() + timeout.toNanos();
        int n = 0;
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p)) {
            List<PartitionInfo> infos = c.partitionsFor(topic, timeout);
            if (infos == null || infos.isEmpty()) return 0;
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo i : infos) parts.add(new TopicPartition(topic, i.partition()));
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts, timeout);
            while (!reached(c, end)) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("replaying " + topic + " took longer than " + timeout);
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(500))) {
                    if (r.value() == null) continue;
                    try {
                        sink.accept(JobEvent.parseFrom(r.value()));
                        n++;
                    } catch (InvalidProtocolBufferException e) {
                        LOG.warnf("%s partition %d offset %d: not a JobEvent, skipped: %s", topic, r.partition(), r.offset(), e.getMessage());
                    }
                }
            }
        }
        return n;
    }

    private static boolean reached(KafkaConsumer<String, byte[]> c, Map<TopicPartition, Long> end) {
        for (var e : end.entrySet()) if (c.position(e.getKey()) < e.getValue()) return false;
        return true;
    }
}
