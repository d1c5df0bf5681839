package io.shardwise.evaluator;

import io.shardwise.core.train.DemoModel;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Dataset names of recipes to text files: the built-in names under the data dir ({@code tinystories},
 * {@code tinystories-train}, {@code wikitext2}), names configured as {@code shardwise.evaluator.datasets.<name>},
 * {@code demo} (the held-out text of the cached demo model, {@link DemoModel}), and {@code file:} URIs or
 * absolute paths, which must lie under an allowed root.
 */
public final class Datasets {
    /** Built-in names, relative to the data dir (shared/data). */
    public static final Map<String, String> BUILT_IN = Map.of(
            "tinystories", "text/tinystories/eval_sample.txt",
            "tinystories-train", "text/tinystories/train_head.txt",
            "wikitext2", "text/wikitext-2/wikitext2_test.txt");

    private final Map<String, Path> named = new LinkedHashMap<>();
    public static final String DEMO = "demo";

    private final List<Path> allowedRoots;
    private final Path demoCacheDir;

    /**
     * @param dataDir      where the built-in names live (absent: only configured names and paths)
     * @param configured   name -> path, overriding built-in names
     * @param allowedRoots roots that file: URIs and absolute paths must lie under (the data dir is always one)
     */
    public Datasets(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots) {
        this(dataDir, configured, allowedRoots, DemoModel.defaultCacheDir());
    }

    public Datasets(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots, Path demoCacheDir) {
        this.demoCacheDir = demoCacheDir;
        dataDir.ifPresent(d -> BUILT_IN.forEach((name, rel) -> named.put(name, d.resolve(rel))));
        configured.forEach((name, path) -> named.put(name, Path.of(path)));
        List<Path> roots = new java.util.ArrayList<>();
        dataDir.ifPresent(roots::add);
        roots.addAll(allowedRoots);
        this.allowedRoots = roots.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    }

    public Map<String, Path> named() {
        return Map.copyOf(named);
    }

    /** The file a dataset name stands for; throws naming the dataset and what is wrong. */
    public Path resolve(String dataset) throws NoSuchFileException {
        if (dataset == null || dataset.isBlank()) throw new IllegalArgumentException("evaluate.datasets has an empty dataset name");
        Path p = named.get(dataset);
        if (p == null && DEMO.equals(dataset)) p = demoText();
        if (p == null) {
            boolean uri = dataset.startsWith("file:");
            if (!uri && !dataset.startsWith("/")) {
                throw new IllegalArgumentException("unknown dataset '" + dataset + "' (known: " + String.join(", ", named.keySet()) + ", " + DEMO
                        + ", or a file: URI / absolute path under " + allowedRoots + ")");
            }
            p = Path.of(uri ? java.net.URI.create(dataset).getPath() : dataset).toAbsolutePath().normalize();
            Path candidate = p;
            if (allowedRoots.stream().noneMatch(candidate::startsWith)) {
                throw new IllegalArgumentException("dataset '" + dataset + "' lies outside the allowed roots " + allowedRoots);
            }
        }
        if (!Files.isRegularFile(p)) throw new NoSuchFileException(p.toString(), null, "dataset '" + dataset + "' is not a readable file");
        return p;
    }

    private Path demoText() throws NoSuchFileException {
        try {
            return DemoModel.cached(demoCacheDir).map(DemoModel::evalText).orElseThrow(() -> new NoSuchFileException(demoCacheDir.toString(), null,
                    "dataset 'demo': the demo model is not cached there (the demo makes it first), and shardwise.evaluator.datasets.demo is not set"));
        } catch (NoSuchFileException e) {
            throw e;
        } catch (java.io.IOException e) {
            throw new IllegalStateException("dataset 'demo': cannot read the demo model cache " + demoCacheDir + ": " + e.getMessage(), e);
        }
    }
}
