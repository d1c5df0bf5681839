package io.shardwise.gateway;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

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

    /** shared/data: where the built-in calibration dataset names live, so a too-short text is refused at submit. */
    Optional<Path> dataDir();

    /** The demo model's cache: its texts (demo, demo-train) are checked at submit only once it is there. */
    Optional<Path> demoCache();

    /** How long startup may take to replay shardwise.job.events. */
    @WithDefault("60")
    int replayTimeoutSeconds();
}
