package io.shardwise.cli;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where the project's build outputs are: the repository root (system property {@code shardwise.root},
 * which bin/shardwise and surefire set, else found from this class's location or the working directory).
 */
public record RepoLayout(Path root) {

    /** The Quarkus services the local stack runs, by the module folder that builds each. */
    public enum Service {
        GATEWAY("gateway"), QUANTIZER("quantizer-service"), PRUNER("pruner-service"),
        DISTILLER("distiller-service"), EVALUATOR("evaluator-service");

        public final String module;

        Service(String module) {
            this.module = module;
        }

        public String shortName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public static RepoLayout find() {
        String prop = System.getProperty("shardwise.root");
        if (prop != null && !prop.isBlank()) return new RepoLayout(Path.of(prop).toAbsolutePath().normalize());
        for (Path start : candidates()) {
            for (Path p = start; p != null; p = p.getParent()) {
                if (Files.isRegularFile(p.resolve("pom.xml")) && Files.isDirectory(p.resolve("cli"))
                        && Files.isDirectory(p.resolve("gateway"))) {
                    return new RepoLayout(p);
                }
            }
        }
        throw new IllegalStateException("cannot find the Shardwise repository root: set -Dshardwise.root=<dir> (bin/shardwise does)");
    }

    private static Path[] candidates() {
        Path cwd = Path.of("").toAbsolutePath();
        try {
            Path code = Path.of(RepoLayout.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return new Path[]{code, cwd};
        } catch (URISyntaxException | RuntimeException e) {
            return new Path[]{cwd};
        }
    }

    public Path quarkusJar(Service s) {
        return root.resolve(s.module).resolve("target/quarkus-app/quarkus-run.jar");
    }

    /** The first service whose runnable jar is missing, if any (then the project needs {@code ./mvnw install}). */
    public Optional<Path> missingJar() {
        for (Service s : Service.values()) if (!Files.isRegularFile(quarkusJar(s))) return Optional.of(quarkusJar(s));
        return Optional.empty();
    }

    public Path defaultRecipe() {
        return root.resolve("recipes/demo.yaml");
    }

    /** {@code ../shared} beside the repository (the real test data), from {@code shardwise.shared} or the layout. */
    public Optional<Path> shared() {
        String prop = System.getProperty("shardwise.shared");
        Path p = prop != null && !prop.isBlank() ? Path.of(prop) : root.resolveSibling("shared");
        return Files.isDirectory(p.resolve("data")) ? Optional.of(p.toAbsolutePath().normalize()) : Optional.empty();
    }

    public Path outDir() {
        return root.resolve("out");
    }
}
