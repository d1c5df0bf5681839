package io.shardwise.gateway;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A fresh folder per test class for the gateway's model root, blob store and output directory. */
public class GatewayTestDirs implements QuarkusTestResourceLifecycleManager {
    static volatile Path root;

    @Override
    public Map<String, String> start() {
        try {
            root = Files.createTempDirectory("shardwise-gateway-test");
            Files.createDirectories(root.resolve("models"));
            Files.createDirectories(root.resolve("elsewhere"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.of("shardwise.model-roots", root.resolve("models").toString(),
                "shardwise.blob-root", root.resolve("blobs").toString(),
                "shardwise.output-dir", root.resolve("out").toString());
    }

    @Override
    public void stop() {
        if (root == null) return;
        try (var walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a leftover temp folder is harmless
        }
    }
}
