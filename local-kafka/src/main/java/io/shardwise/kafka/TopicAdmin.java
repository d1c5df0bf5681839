package io.shardwise.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** Topic creation and broker readiness through the Kafka {@link Admin} client. */
public final class TopicAdmin {
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);

    private TopicAdmin() {
    }

    /** Creates each topic (name -> partitions, replication 1) unless it exists; returns when all are there. */
    public static void createTopics(String bootstrapServers, Map<String, Integer> partitionsByTopic) {
        try (Admin admin = admin(bootstrapServers)) {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = partitionsByTopic.entrySet().stream()
                    .filter(e -> !existing.contains(e.getKey()))
                    .map(e -> new NewTopic(e.getKey(), Optional.of(e.getValue()), Optional.empty()))
                    .toList();
            if (missing.isEmpty()) return;
            try {
                admin.createTopics(missing).all().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
        } catch (Exception e) {
            throw new IllegalStateException("creating topics " + partitionsByTopic + " on " + bootstrapServers + " failed: " + e.getMessage(), e);
        }
    }

    /** Partition count of a topic. */
    public static int partitions(String bootstrapServers, String topic) {
        try (Admin admin = admin(bootstrapServers)) {
            return admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic).partitions().size();
        } catch (Exception e) {
            throw new IllegalStateException("describing topic " + topic + " failed: " + e.getMessage(), e);
        }
    }

    /** Waits until the broker answers a metadata request with at least one live node. */
    static void awaitReady(String bootstrapServers) {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        Exception last = null;
        try (Admin admin = admin(bootstrapServers)) {
            while (System.nanoTime() < deadline) {
                try {
                    if (!admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) return;
                } catch (Exception e) {
                    last = e;
                }
                Thread.sleep(100);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        throw new IllegalStateException("Kafka broker at " + bootstrapServers + " did not become ready in " + READY_TIMEOUT, last);
    }

    /** Parses {@code name:partitions,name2:partitions} (partitions default to {@link KraftBroker#DEFAULT_PARTITIONS}). */
    public static Map<String, Integer> parseTopicList(String spec) {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (String item : spec.split(",")) {
            String s = item.trim();
            if (s.isEmpty()) continue;
            int colon = s.lastIndexOf(':');
            if (colon < 0) {
                out.put(s, KraftBroker.DEFAULT_PARTITIONS);
                continue;
            }
            try {
                int n = Integer.parseInt(s.substring(colon + 1));
                if (n < 1) throw new NumberFormatException();
                out.put(s.substring(0, colon), n);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--topics entry '" + s + "': partitions must be a positive number");
            }
        }
        return out;
    }

    private static Admin admin(String bootstrapServers) {
        Properties p = new Properties();
        p.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.setProperty(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.setProperty(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return Admin.create(p);
    }
}
