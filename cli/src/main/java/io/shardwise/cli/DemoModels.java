package io.shardwise.cli;

import java.nio.file.Path;
import java.util.function.Consumer;

/** The built-in demo model, trained on first use and cached under ~/.cache/shardwise/demo. */
final class DemoModels {
    private DemoModels() {
    }

    static Path cacheDir() {
        return Path.of(System.getProperty("user.home"), ".cache", "shardwise", "demo");
    }

    static Path heldOutText() {
        throw new IllegalStateException("the demo model is not available in this build yet");
    }

    static Path ensureDefault(Consumer<String> progress) throws Exception {
        throw new IllegalStateException("the demo model is not available in this build yet: pass --model <file>");
    }
}
