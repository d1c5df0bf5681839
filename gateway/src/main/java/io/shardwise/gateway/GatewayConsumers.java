package io.shardwise.gateway;

import com.google.protobuf.InvalidProtocolBufferException;
import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.ShardEvent;
import io.smallrye.common.annotation.Blocking;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.jboss.logging.Logger;

/**
 * The gateway's inputs: shard events and scores (consumer group {@code gateway}, offsets committed
 * once the resulting job events are published), and the services' capabilities (read from earliest
 * on every start, never committed).
 */
@ApplicationScoped
public class GatewayConsumers {
    private static final Logger LOG = Logger.getLogger(GatewayConsumers.class);

    @Inject
    GatewayRuntime runtime;

    @Incoming("gateway-in")
    @Blocking
    public void onEvent(ConsumerRecord<String, byte[]> r) {
        if (!runtime.awaitReady(300)) throw new IllegalStateException("job log replay did not finish");
        if (r.value() == null) return;
        try {
            if (Topics.SHARD_EVENTS.topic.equals(r.topic())) {
                ShardEvent e = ShardEvent.parseFrom(r.value());
                runtime.decide(() -> runtime.coordinator().onShardEvent(e));
            } else if (Topics.SCORES.topic.equals(r.topic())) {
                ModelScored s = ModelScored.parseFrom(r.value());
                runtime.decide(() -> runtime.coordinator().onScored(s));
            }
        } catch (InvalidProtocolBufferException e) {
            LOG.warnf("%s partition %d offset %d: unreadable message skipped: %s", r.topic(), r.partition(), r.offset(), e.getMessage());
        }
    }

    @Incoming("capabilities")
    public void onCapabilities(ConsumerRecord<String, byte[]> r) {
        if (r.value() == null) {
            if (r.key() != null) runtime.capabilities().remove(r.key());
            return;
        }
        try {
            Capabilities c = Capabilities.parseFrom(r.value());
            runtime.capabilities().put(c);
            LOG.infof("capabilities of %s: %s %s", c.getService(), c.getKind(), c.getTechniquesList().stream().map(t -> t.getMethod()).toList());
        } catch (InvalidProtocolBufferException e) {
            LOG.warnf("%s offset %d: unreadable capabilities skipped: %s", r.topic(), r.offset(), e.getMessage());
        }
    }
}
