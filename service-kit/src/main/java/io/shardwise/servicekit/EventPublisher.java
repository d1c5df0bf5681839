package io.shardwise.servicekit;

import io.shardwise.core.work.DeadLetter;
import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.ShardEvent;
import io.smallrye.reactive.messaging.MutinyEmitter;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.jboss.logging.Logger;

import java.time.Duration;

/**
 * Everything a technique service writes to Kafka. Emitters live here, in a plain bean, because an emitter
 * inside a gRPC service class fails (SRMSG00019). Sends that must precede an offset commit wait for the ack.
 */
@ApplicationScoped
public class EventPublisher {
    /** Header names on dead-lettered records. */
    public static final String ERROR_HEADER = DeadLetter.ERROR_HEADER;
    public static final String ATTEMPTS_HEADER = DeadLetter.ATTEMPTS_HEADER;
    public static final String SOURCE_HEADER = DeadLetter.SOURCE_HEADER;
    private static final Duration ACK_TIMEOUT = Duration.ofSeconds(60);
    private static final Logger LOG = Logger.getLogger(EventPublisher.class);

    @Inject
    @Channel("shard-events")
    MutinyEmitter<byte[]> shardEvents;

    @Inject
    @Channel("dead-letters")
    MutinyEmitter<byte[]> deadLetters;

    @Inject
    @Channel("capabilities")
    MutinyEmitter<byte[]> capabilities;

    /** Publishes a shard event keyed by job id and waits until Kafka has it. */
    public void shardEvent(ShardEvent event) {
        shardEvents.sendMessage(keyed(event.getJobId(), event.toByteArray(), Topics.SHARD_EVENTS.topic, new RecordHeaders())).await().atMost(ACK_TIMEOUT);
    }

    /** Progress is best effort: not waited for, a lost one only delays a progress bar. */
    public void progress(ShardEvent event) {
        shardEvents.sendMessage(keyed(event.getJobId(), event.toByteArray(), Topics.SHARD_EVENTS.topic, new RecordHeaders()))
                .subscribe().with(ok -> { }, e -> LOG.debugf("progress event for job %s not sent: %s", event.getJobId(), e));
    }

    /** Sends a task's original bytes to {@code <topic>.dlq} with the error text in a header; waits for the ack. */
    public void deadLetter(String sourceTopic, int partition, long offset, String key, byte[] value, String error, int attempts) {
        DeadLetter letter = new DeadLetter(sourceTopic, partition, offset, error, attempts);
        RecordHeaders h = new RecordHeaders();
        letter.headers().forEach(h::add);
        deadLetters.sendMessage(keyed(key, value == null ? new byte[0] : value, letter.topic(), h)).await().atMost(ACK_TIMEOUT);
    }

    /** Publishes this service's capabilities (compacted topic, key = service name). */
    public void capabilities(Capabilities caps) {
        capabilities.sendMessage(keyed(caps.getService(), caps.toByteArray(), Topics.CAPABILITIES.topic, new RecordHeaders()))
                .subscribe().with(ok -> LOG.infof("published capabilities of %s: %s", caps.getService(), caps.getTechniquesList().stream().map(t -> t.getMethod()).toList()),
                        e -> LOG.errorf(e, "could not publish capabilities of %s", caps.getService()));
    }

    private static Message<byte[]> keyed(String key, byte[] value, String topic, RecordHeaders headers) {
        return Message.of(value).addMetadata(OutgoingKafkaRecordMetadata.<String>builder()
                .withKey(key).withTopic(topic).withHeaders(headers).build());
    }
}
