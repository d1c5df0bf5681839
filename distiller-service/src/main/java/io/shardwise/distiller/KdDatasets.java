package io.shardwise.distiller;

import io.shardwise.core.work.TextDatasets;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code kd} stage's datasets ({@link TextDatasets} for the field {@code distill.dataset}):
 * {@code demo} / {@code demo-train} are the demo model's held-out / training text, made on first use.
 */
public final class KdDatasets {
    private final TextDatasets texts;

    /**
     * @param dataDir      where the built-in names live (absent: only the other kinds)
     * @param configured   name -> path, overriding built-in names
     * @param allowedRoots where absolute paths may point, besides the data dir and the demo cache
     * @param demoCache    the demo model's cache directory
     */
    public KdDatasets(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots, Path demoCache) {
        texts = TextDatasets.withDemo("distill.dataset", dataDir, configured, allowedRoots, demoCache);
    }

    /** The text file for a dataset name or path; throws naming the dataset and what is wrong. */
    public Path resolve(String dataset) throws IOException {
        return texts.resolve(dataset);
    }
}
