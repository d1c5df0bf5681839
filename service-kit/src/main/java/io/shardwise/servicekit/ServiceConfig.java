package io.shardwise.servicekit;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.Optional;

/** What every technique service reads (application.properties / env), under {@code shardwise.*}. */
@ConfigMapping(prefix = "shardwise")
public interface ServiceConfig {

    /** Name the service publishes its capabilities under, and its task consumer group. */
    String serviceName();

    /** FileBlobStore root shared by all services (receipts live in {@code <root>/receipts}). */
    @WithDefault("${user.home}/.cache/shardwise/blobs")
    String blobRoot();

    /** This instance's name in events; defaults to service name, pid and host. */
    Optional<String> instance();

    /**
     * Memory this instance declares for one shard task (the gateway's pre-flight plan checks it): shard tensors
     * live in mapped blobs and native memory, not the heap, so a deployment sets it to its memory limit minus
     * the JVM's own needs. Unset: the maximum heap.
     */
    Optional<Long> memoryBytes();

    Retry retry();

    interface Retry {
        /** Tries per task before it goes to the dead-letter topic. */
        @WithDefault("3")
        int attempts();

        /** Wait after the first failed try; doubled after each further one. */
        @WithDefault("500ms")
        Duration backoff();

        @WithDefault("10s")
        Duration maxBackoff();
    }
}
