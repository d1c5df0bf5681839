package io.shardwise.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LocalStackTest {

    @Test
    void refusesToStartWithoutTheServicesJarsAndNamesTheMissingOne(@TempDir Path root) throws Exception {
        RepoLayout layout = new RepoLayout(root);
        Files.createDirectories(layout.quarkusJar(RepoLayout.Service.GATEWAY).getParent());
        Files.writeString(layout.quarkusJar(RepoLayout.Service.GATEWAY), "");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> LocalStack.start(layout, LocalStack.Options.in(root.resolve("run")), s -> { }));
        assertTrue(e.getMessage().startsWith(root.resolve("quantizer-service/target/quarkus-app/quarkus-run.jar") + " is missing"), e.getMessage());
        assertTrue(Files.notExists(root.resolve("run/logs")), "nothing started, nothing written");
    }

    @Test
    void optionsDefaultToOneInstanceAndKeepEverythingInTheRunFolder(@TempDir Path run) {
        LocalStack.Options o = LocalStack.Options.in(run).withInstances(RepoLayout.Service.QUANTIZER, 2);
        assertEquals(2, o.instances(RepoLayout.Service.QUANTIZER));
        assertEquals(1, o.instances(RepoLayout.Service.PRUNER));
        assertEquals(run.resolve("logs"), o.logDir());
        assertEquals(run.resolve("blobs"), o.blobRoot());
    }

    @Test
    void layoutFindsThisRepository() {
        RepoLayout l = RepoLayout.find();
        assertTrue(Files.isRegularFile(l.root().resolve("bin/shardwise")), l.root().toString());
        assertEquals(l.root().resolve("recipes/demo.yaml"), l.defaultRecipe());
    }
}
