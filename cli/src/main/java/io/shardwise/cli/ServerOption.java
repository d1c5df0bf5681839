package io.shardwise.cli;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import picocli.CommandLine.Option;

import java.util.concurrent.TimeUnit;

/** The {@code --server host:port} option every gRPC command shares; env SHARDWISE_SERVER sets its default. */
public final class ServerOption {
    public static final String DEFAULT = "localhost:9000";

    @Option(names = "--server", paramLabel = "HOST:PORT",
            description = "gateway address (default: $SHARDWISE_SERVER or " + DEFAULT + ")")
    String server;

    public String address() {
        if (server != null && !server.isBlank()) return server;
        String env = System.getenv("SHARDWISE_SERVER");
        return env != null && !env.isBlank() ? env : DEFAULT;
    }

    /** A plaintext channel to the gateway; the caller closes it. */
    public static ManagedChannel channel(String address) {
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1) {
            throw new IllegalArgumentException("--server: expected HOST:PORT, got '" + address + "'");
        }
        int port;
        try {
            port = Integer.parseInt(address.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--server: port is not a number in '" + address + "'");
        }
        return ManagedChannelBuilder.forAddress(address.substring(0, colon), port).usePlaintext()
                .maxInboundMessageSize(64 << 20).build();
    }

    public ManagedChannel channel() {
        return channel(address());
    }

    static void close(ManagedChannel channel) {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
