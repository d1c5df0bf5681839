package io.shardwise.kafka;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/**
 * One embedded KRaft broker per Quarkus test class: {@code @QuarkusTestResource(KafkaBrokerResource.class)}
 * sets {@code kafka.bootstrap.servers}. Quarkus Kafka dev services must be off ({@code quarkus.kafka.devservices.enabled=false}).
 */
public class KafkaBrokerResource implements QuarkusTestResourceLifecycleManager {
    private KraftBroker broker;

    @Override
    public Map<String, String> start() {
        broker = KraftBroker.startTemporary();
        return Map.of("kafka.bootstrap.servers", broker.bootstrapServers());
    }

    @Override
    public void stop() {
        if (broker != null) broker.close();
    }
}
