package io.shardwise.core.work;

import java.io.IOException;
import java.net.URI;
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
 * Dataset names of recipes to text files, one rule for every service: the built-in names under the
 * data dir (shared/data), configured names, the demo model's texts, and {@code file:} URIs or absolute
 * paths that must lie under an allowed root. Errors start with the recipe field that named the dataset.
 */
public final class TextDatasets {
    /** Built-in names, relative to the data dir. */
    public static final Map<String, String> BUILT_IN = Map.of(
            "tinystories", "text/tinystories/eval_sample.txt",
            "tinystories-train", "text/tinystories/train_head.txt",
            "wikitext2", "text/wikitext-2/wikitext2_test.txt");

    /** Where the demo model's texts come from (each service decides whether it may train the model). */
    @FunctionalInterface
    public interface DemoTexts {
        /** The file for a demo dataset name, or empty when the name is not a demo name. */
        Optional<Path> text(String name) throws IOException;
    }

    private final String field;
    private final Map<String, Path> named = new LinkedHashMap<>();
    private final List<String> demoNames;
    private final DemoTexts demo;
    private final List<Path> roots;

    /**
     * @param field        the recipe field the names come from, e.g. {@code distill.dataset}
     * @param dataDir      where the built-in names live (absent: only the other kinds)
     * @param configured   name -> path, overriding built-in names
     * @param allowedRoots roots that paths must lie under, besides the data dir
     */
    public TextDatasets(String field, Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots,
                        List<String> demoNames, DemoTexts demo) {
        this.field = field;
        this.demoNames = List.copyOf(demoNames);
        this.demo = demo;
        dataDir.ifPresent(d -> BUILT_IN.forEach((name, rel) -> named.put(name, d.resolve(rel))));
        configured.forEach((name, path) -> named.put(name, Path.of(path)));
        List<Path> r = new ArrayList<>();
        dataDir.ifPresent(r::add);
        r.addAll(allowedRoots);
        this.roots = r.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    }

    /** The demo model's dataset names: its held-out and training text, made on first use in {@code demoCache}. */
    public static final List<String> DEMO_NAMES = List.of("demo", "demo-train");

    /**
     * The datasets a service resolves for a recipe field: built-in names under {@code dataDir}, configured names, the
     * demo model's texts ({@link #DEMO_NAMES}, trained into {@code demoCache} on first use) and paths under the roots.
     */
    public static TextDatasets withDemo(String field, Optional<Path> dataDir, Map<String, String> configured,
                                        List<Path> allowedRoots, Path demoCache) {
        List<Path> roots = new ArrayList<>(allowedRoots);
        roots.add(demoCache);
        return new TextDatasets(field, dataDir, configured, roots, DEMO_NAMES, name -> {
            if (!DEMO_NAMES.contains(name)) return Optional.empty();
            io.shardwise.core.train.DemoModel d = io.shardwise.core.train.DemoModel.ensure(demoCache, m -> { });
            return Optional.of(name.equals("demo") ? d.evalText() : d.trainText());
        });
    }

    public Map<String, Path> named() {
        return Map.copyOf(named);
    }

    public List<Path> roots() {
        return roots;
    }

    /** The text file a dataset name or path stands for; throws naming the field, the dataset and what is wrong. */
    public Path resolve(String dataset) throws IOException {
        if (dataset == null || dataset.isBlank()) throw new IllegalArgumentException(field + ": empty dataset name");
        Path p = named.get(dataset);
        if (p == null) p = demo.text(dataset).orElse(null);
        if (p == null) {
            boolean uri = dataset.startsWith("file:");
            if (!uri && !dataset.startsWith("/")) {
                TreeSet<String> known = new TreeSet<>(named.keySet());
                known.addAll(demoNames);
                throw new IllegalArgumentException(field + ": unknown dataset '" + dataset + "' (known: " + String.join(", ", known)
                        + ", or a file: URI / absolute path under " + roots + ")");
            }
            Path candidate = Path.of(uri ? URI.create(dataset).getPath() : dataset).toAbsolutePath().normalize();
            if (roots.stream().noneMatch(candidate::startsWith)) {
                throw new IllegalArgumentException(field + ": dataset '" + dataset + "' lies outside the allowed roots " + roots);
            }
            p = candidate;
        }
        if (!Files.isRegularFile(p)) throw new NoSuchFileException(p.toString(), null, field + ": dataset '" + dataset + "' is not a readable file");
        return p;
    }
}
