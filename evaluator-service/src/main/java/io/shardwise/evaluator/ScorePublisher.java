package io.shardwise.evaluator;

import io.shardwise.core.work.DeadLetter;
import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.ModelScored;
import io.smallrye.reactive.messaging.MutinyEmitter;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Message;

import java.time.Duration;

/** What the evaluator writes to Kafka: scores (key = job id) and dead letters. Every send waits for Kafka's ack. */
@ApplicationScoped
public class ScorePublisher {
    /** Header names on dead-lettered records (the same as the technique services use). */
    public static final String ERROR_HEADER = DeadLetter.ERROR_HEADER;
    public static final String ATTEMPTS_HEADER = DeadLetter.ATTEMPTS_HEADER;
    public static final String SOURCE_HEADER = DeadLetter.SOURCE_HEADER;
    private static final Duration ACK_TIMEOUT = Duration.ofSeconds(60);

    @Inject
    @Channel("scores")
    MutinyEmitter<byte[]> scores;

    @Inject
    @Channel("dead-letters")
    MutinyEmitter<byte[]> deadLetters;

    public void scored(ModelScored s) {
        scores.sendMessage(keyed(s.getJobId(), s.toByteArray(), Topics.SCORES.topic, new RecordHeaders())).await().atMost(ACK_TIMEOUT);
    }

    /** The task's original bytes to {@code <topic>.dlq}, the error in a header. */
    public void deadLetter(String sourceTopic, int partition, long offset, String key, byte[] value, String error, int attempts) {
        DeadLetter letter = new DeadLetter(sourceTopic, partition, offset, error, attempts);
        RecordHeaders h = new RecordHeaders();
        letter.headers().forEach(h::add);
        deadLetters.sendMessage(keyed(key, value == null ? new byte[0] : value, letter.topic(), h)).await().atMost(ACK_TIMEOUT);
    }

    private static Message<byte[]> keyed(String key, byte[] value, String topic, RecordHeaders headers) {
        return Message.of(value).addMetadata(OutgoingKafkaRecordMetadata.<String>builder()
                .withKey(key).withTopic(topic).withHeaders(headers).build());
    }
}
