package io.shardwise.gateway;

import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Message;
import org.eclipse.microprofile.reactive.messaging.OnOverflow;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Publishes the coordinator's decisions, each to its own topic with its {@link Outbound#key()}. Kept apart
 * from the gRPC service because an Emitter cannot live in a @GrpcService bean (SRMSG00019).
 */
@ApplicationScoped
public class KafkaOutbox {

    @Inject
    @Channel("outbox")
    @OnOverflow(OnOverflow.Strategy.UNBOUNDED_BUFFER)
    Emitter<byte[]> emitter;

    /** Sends in order; the future completes when the broker acknowledged every message. */
    public CompletableFuture<Void> send(List<Outbound> messages) {
        CompletableFuture<?>[] acks = new CompletableFuture<?>[messages.size()];
        for (int i = 0; i < messages.size(); i++) {
            Outbound o = messages.get(i);
            CompletableFuture<Void> ack = new CompletableFuture<>();
            acks[i] = ack;
            var meta = OutgoingKafkaRecordMetadata.<String>builder().withTopic(o.topic().topic).withKey(o.key()).build();
            emitter.send(Message.of(o.message().toByteArray())
                    .addMetadata(meta)
                    .withAck(() -> {
                        ack.complete(null);
                        return CompletableFuture.completedFuture(null);
                    })
                    .withNack(t -> {
                        ack.completeExceptionally(t);
                        return CompletableFuture.completedFuture(null);
                    }));
        }
        return CompletableFuture.allOf(acks);
    }
}
