package io.shardwise.distiller;

import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.TextDatasets;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code kd} stage's datasets ({@link TextDatasets} for the field {@code distill.dataset}):
 * {@code demo} / {@code demo-train} are the demo model's held-out / training text, made on first use.
 */
public final class KdDatasets {
    private static final List<String> DEMO_NAMES = List.of("demo", "demo-train");

    private final TextDatasets texts;

    /**
     * @param dataDir      where the built-in names live (absent: only the other kinds)
     * @param configured   name -> path, overriding built-in names
     * @param allowedRoots where absolute paths may point, besides the data dir and the demo cache
     * @param demoCache    the demo model's cache directory
     */
    public KdDatasets(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots, Path demoCache) {
        List<Path> roots = new ArrayList<>(allowedRoots);
        roots.add(demoCache);
        texts = new TextDatasets("distill.dataset", dataDir, configured, roots, DEMO_NAMES, name -> {
            if (!DEMO_NAMES.contains(name)) return Optional.empty();
            DemoModel d = DemoModel.ensure(demoCache, m -> { });
            return Optional.of(name.equals("demo") ? d.evalText() : d.trainText());
        });
    }

    /** The text file for a dataset name or path; throws naming the dataset and what is wrong. */
    public Path resolve(String dataset) throws IOException {
        return texts.resolve(dataset);
    }
}
