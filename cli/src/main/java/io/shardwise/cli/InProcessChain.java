package io.shardwise.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/** Placeholder, replaced when the technique classes land. */
final class InProcessChain {
    record Result(ScoreTable table, List<String> scoredLines, String outputPath, double seconds) {
    }

    InProcessChain(Path blobRoot, Path outputDir, RepoLayout layout, Consumer<String> log) {
    }

    Result run(Path model, String yaml) {
        throw new UnsupportedOperationException("--in-process is not available yet");
    }
}
