package io.shardwise.cli;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** The real data in ../shared/data (system property shardwise.shared); tests skip, saying why, when it is absent. */
final class SharedData {
    private SharedData() {
    }

    static Path require(String relative) {
        String prop = System.getProperty("shardwise.shared");
        Path root = prop == null ? RepoLayout.find().root().resolveSibling("shared") : Path.of(prop);
        Path p = root.resolve("data").resolve(relative);
        if (!Files.exists(p)) {
            String reason = "skipped: shared data " + p + " is absent (tests read real data from ../shared/data)";
            System.out.println(reason);
            Assumptions.abort(reason);
        }
        return p;
    }

    static Path stories260K() {
        require("stories260K/tok512.bin");
        return require("stories260K/stories260K.bin");
    }
}
