package io.shardwise.gateway;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.util.List;

/** The gateway's settings (prefix {@code shardwise}). The gRPC port is {@code quarkus.grpc.server.port}, set from {@code shardwise.grpc-port}. */
@ConfigMapping(prefix = "shardwise")
public interface GatewayConfig {

    /** FileBlobStore root shared with the services. */
    @WithDefault("${user.home}/.cache/shardwise/blobs")
    Path blobRoot();

    /** Directories models and evaluation files may be read from (comma list). */
    List<Path> modelRoots();

    /** Where finished jobs' model files are written. */
    @WithDefault("${user.home}/.cache/shardwise/output")
    Path outputDir();

    /** Port of the gRPC API (CompressionService, health, reflection). */
    @WithDefault("9090")
    int grpcPort();

    /** Memory the pre-flight plan adds to each shard task for calibration activations and batches. */
    @WithDefault("67108864")
    long calibrationMarginBytes();

    /** How long startup may take to replay shardwise.job.events. */
    @WithDefault("60")
    int replayTimeoutSeconds();
}
