package io.shardwise.distiller;

import io.shardwise.core.train.DemoModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Dataset names of the {@code kd} stage to text files: {@code tinystories}, {@code tinystories-train}
 * and {@code wikitext2} under the data dir (shared/data), {@code demo} / {@code demo-train} (the demo
 * model's held-out / training text, made on first use), names configured as
 * {@code shardwise.distiller.datasets.<name>}, and absolute paths or {@code file:} URIs under an allowed root.
 */
public final class KdDatasets {
    private static final Map<String, String> BUILT_IN = Map.of(
            "tinystories", "text/tinystories/eval_sample.txt",
            "tinystories-train", "text/tinystories/train_head.txt",
            "wikitext2", "text/wikitext-2/wikitext2_test.txt");

    private final Map<String, Path> named = new LinkedHashMap<>();
    private final List<Path> roots = new ArrayList<>();
    private final Path demoCache;

    /**
     * @param dataDir      where the built-in names live (absent: only the other kinds)
     * @param configured   name -> path, overriding built-in names
     * @param allowedRoots where absolute paths may point, besides the data dir and the demo cache
     * @param demoCache    the demo model's cache directory
     */
    public KdDatasets(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots, Path demoCache) {
        dataDir.ifPresent(d -> BUILT_IN.forEach((name, rel) -> named.put(name, d.resolve(rel))));
        configured.forEach((name, path) -> named.put(name, Path.of(path)));
        dataDir.ifPresent(roots::add);
        roots.addAll(allowedRoots);
        roots.add(demoCache);
        roots.replaceAll(p -> p.toAbsolutePath().normalize());
        this.demoCache = demoCache;
    }

    /** The text file for a dataset name or path; throws naming the dataset and what is wrong. */
    public Path resolve(String dataset) throws IOException {
        if (dataset == null || dataset.isBlank()) throw new IllegalArgumentException("distill.dataset is empty");
        Path p = named.get(dataset);
        if (p == null && (dataset.equals("demo") || dataset.equals("demo-train"))) {
            DemoModel d = DemoModel.ensure(demoCache, m -> { });
            p = dataset.equals("demo") ? d.evalText() : d.trainText();
        }
        if (p == null) {
            boolean uri = dataset.startsWith("file:");
            if (!uri && !dataset.startsWith("/")) {
                TreeSet<String> known = new TreeSet<>(named.keySet());
                known.addAll(List.of("demo", "demo-train"));
                throw new IllegalArgumentException("distill.dataset: unknown dataset '" + dataset + "' (known: " + String.join(", ", known)
                        + ", or an absolute path / file: URI under " + roots + ")");
            }
            Path candidate = Path.of(uri ? java.net.URI.create(dataset).getPath() : dataset).toAbsolutePath().normalize();
            if (roots.stream().noneMatch(candidate::startsWith)) {
                throw new IllegalArgumentException("distill.dataset '" + dataset + "' lies outside the allowed roots " + roots);
            }
            p = candidate;
        }
        if (!Files.isRegularFile(p)) throw new NoSuchFileException(p.toString(), null, "distill.dataset '" + dataset + "' is not a readable file");
        return p;
    }
}
