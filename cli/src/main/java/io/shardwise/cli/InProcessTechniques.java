package io.shardwise.cli;

import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.core.work.TextDatasets;
import io.shardwise.distiller.KdDatasets;
import io.shardwise.distiller.KdTechnique;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.pruner.MagnitudeTechnique;
import io.shardwise.quantizer.CalibrationTexts;
import io.shardwise.quantizer.RtnTechnique;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * The technique classes the pruner, distiller and quantizer services run, made directly (no CDI), so
 * {@code demo --in-process} calls exactly the code the services call, without Quarkus or Kafka. Every
 * {@link ShardTechnique} in the services' packages is found on the classpath and built with the constructor
 * CDI would use, from what this class can give it (nothing, {@link CalibrationTexts}, {@link KdDatasets}, the pruner's {@link TextDatasets}):
 * a method added to a service is here without a line changed.
 */
final class InProcessTechniques {
    /** Classes whose package is searched: one per service. */
    private static final List<Class<?>> ANCHORS = List.of(MagnitudeTechnique.class, KdTechnique.class, RtnTechnique.class);

    private final List<ShardTechnique> techniques = new ArrayList<>();
    private final List<String> skipped = new ArrayList<>();

    InProcessTechniques(Optional<Path> dataDir, List<Path> allowedRoots) {
        Path demo = DemoModel.defaultCacheDir();
        Map<Class<?>, Object> deps = Map.of(
                KdDatasets.class, new KdDatasets(dataDir, Map.of(), allowedRoots, demo),
                CalibrationTexts.class, new CalibrationTexts(dataDir, Map.of(), allowedRoots, demo),
                TextDatasets.class, TextDatasets.withDemo("prune.calibration", dataDir, Map.of(), allowedRoots, demo));
        for (Class<?> anchor : ANCHORS) {
            for (String name : classNames(anchor)) {
                Class<?> c;
                try {
                    c = Class.forName(name, false, anchor.getClassLoader());
                } catch (ClassNotFoundException | LinkageError e) {
                    skipped.add(name + ": " + e);
                    continue;
                }
                if (!ShardTechnique.class.isAssignableFrom(c) || c.isInterface() || Modifier.isAbstract(c.getModifiers())) continue;
                make(c, deps).ifPresent(techniques::add);
            }
        }
        techniques.sort(Comparator.comparing((ShardTechnique t) -> t.kind()).thenComparing(ShardTechnique::method));
    }

    /** Built with its richest constructor whose parameters are all things this class has (CDI's @Inject one, or the no-arg one). */
    private Optional<ShardTechnique> make(Class<?> c, Map<Class<?>, Object> deps) {
        Constructor<?> best = null;
        for (Constructor<?> k : c.getDeclaredConstructors()) {
            if (!deps.keySet().containsAll(List.of(k.getParameterTypes()))) continue;
            if (best == null || k.getParameterCount() > best.getParameterCount()) best = k;
        }
        if (best == null) {
            skipped.add(c.getName() + ": no constructor takes only " + deps.keySet().stream().map(Class::getSimpleName).sorted().toList());
            return Optional.empty();
        }
        try {
            best.setAccessible(true);
            Object[] args = Stream.of(best.getParameterTypes()).map(deps::get).toArray();
            return Optional.of((ShardTechnique) best.newInstance(args));
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            skipped.add(c.getName() + ": " + e);
            return Optional.empty();
        }
    }

    /** Top-level classes in the anchor's package, from its jar or classes folder. */
    private static List<String> classNames(Class<?> anchor) {
        String pkg = anchor.getPackageName();
        String dir = pkg.replace('.', '/') + "/";
        TreeSet<String> names = new TreeSet<>();
        try {
            Path loc = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isDirectory(loc)) {
                try (Stream<Path> files = Files.list(loc.resolve(dir))) {
                    files.map(p -> p.getFileName().toString()).filter(InProcessTechniques::topLevelClass)
                            .forEach(f -> names.add(pkg + "." + f.substring(0, f.length() - ".class".length())));
                }
            } else {
                try (JarFile jar = new JarFile(loc.toFile())) {
                    jar.stream().map(e -> e.getName()).filter(n -> n.startsWith(dir) && n.indexOf('/', dir.length()) < 0)
                            .map(n -> n.substring(dir.length())).filter(InProcessTechniques::topLevelClass)
                            .forEach(f -> names.add(pkg + "." + f.substring(0, f.length() - ".class".length())));
                }
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
            names.add(anchor.getName()); // at least the anchor itself
        }
        return List.copyOf(names);
    }

    private static boolean topLevelClass(String file) {
        return file.endsWith(".class") && !file.contains("$") && !file.equals("package-info.class");
    }

    Optional<ShardTechnique> find(StageKind kind, String method) {
        return techniques.stream().filter(t -> t.kind() == kind && t.method().equals(method)).findFirst();
    }

    List<String> methods(StageKind kind) {
        return techniques.stream().filter(t -> t.kind() == kind).map(ShardTechnique::method).sorted().toList();
    }

    /** Technique classes that could not be made here, and why (shown when a recipe asks for a method that is missing). */
    List<String> skipped() {
        return List.copyOf(skipped);
    }
}
