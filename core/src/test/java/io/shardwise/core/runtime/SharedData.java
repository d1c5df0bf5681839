package io.shardwise.core.runtime;

import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.model.LlamaModel;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/** Locates {@code ../shared/data} (system property {@code shardwise.shared}) and skips, saying why, when a file is absent. */
final class SharedData {
    private SharedData() {
    }

    static Path require(String relative) {
        String shared = System.getProperty("shardwise.shared");
        Path p = shared == null ? null : Path.of(shared, "data").resolve(relative);
        if (p == null || !Files.isRegularFile(p)) {
            String why = "skipped: shared data file " + (p == null ? relative + " (system property shardwise.shared is not set)" : p) + " is absent";
            System.out.println(why);
            Assumptions.abort(why);
        }
        return p;
    }

    static LlamaModel stories260K() throws IOException {
        Path bin = require("stories260K/stories260K.bin");
        Path tok = require("stories260K/tok512.bin");
        return Llama2cCheckpoint.read(bin, tok, Arena.ofAuto());
    }
}
