package io.shardwise.evaluator;

import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.TextDatasets;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The evaluator's datasets ({@link TextDatasets} for the field {@code evaluate.datasets}): {@code demo} is
 * the held-out text of the cached demo model; the evaluator never trains it.
 */
public final class Datasets {
    public static final String DEMO = "demo";

    private final TextDatasets texts;

    /**
     * @param dataDir      where the built-in names live (absent: only configured names and paths)
     * @param configured   name -> path, overriding built-in names
     * @param allowedRoots roots that file: URIs and absolute paths must lie under (the data dir is always one)
     */
    public Datasets(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots) {
        this(dataDir, configured, allowedRoots, DemoModel.defaultCacheDir());
    }

    public Datasets(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots, Path demoCacheDir) {
        texts = new TextDatasets("evaluate.datasets", dataDir, configured, allowedRoots, List.of(DEMO),
                name -> DEMO.equals(name) ? Optional.of(demoText(demoCacheDir)) : Optional.empty());
    }

    public Map<String, Path> named() {
        return texts.named();
    }

    /** The file a dataset name stands for; throws naming the dataset and what is wrong. */
    public Path resolve(String dataset) throws IOException {
        return texts.resolve(dataset);
    }

    private static Path demoText(Path demoCacheDir) throws IOException {
        return DemoModel.cached(demoCacheDir).map(DemoModel::evalText).orElseThrow(() -> new NoSuchFileException(demoCacheDir.toString(), null,
                "dataset 'demo': the demo model is not cached there (the demo makes it first), and shardwise.evaluator.datasets.demo is not set"));
    }
}
