package io.shardwise.cli;

import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.StageKind;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Modifier;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Optional;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * Finds the services' {@link ShardTechnique} classes on this JVM's classpath (the service jars the
 * CLI depends on) and makes one of each, so {@code demo --in-process} calls exactly the classes the
 * services run, without Quarkus or Kafka.
 */
final class TechniqueScan {
    static final List<String> PACKAGES = List.of("io.shardwise.pruner", "io.shardwise.distiller", "io.shardwise.quantizer");

    private final List<ShardTechnique> techniques;

    private TechniqueScan(List<ShardTechnique> techniques) {
        this.techniques = techniques;
    }

    static TechniqueScan load() throws IOException {
        List<ShardTechnique> found = new ArrayList<>();
        ClassLoader cl = TechniqueScan.class.getClassLoader();
        for (String pkg : PACKAGES) {
            for (String className : classNames(cl, pkg)) {
                Class<?> c;
                try {
                    c = Class.forName(className, false, cl);
                } catch (ClassNotFoundException | LinkageError e) {
                    continue; // a Quarkus adapter class whose dependencies the CLI leaves out
                }
                if (!ShardTechnique.class.isAssignableFrom(c) || c.isInterface() || Modifier.isAbstract(c.getModifiers())) continue;
                found.add(instantiate(c.asSubclass(ShardTechnique.class)));
            }
        }
        return new TechniqueScan(List.copyOf(found));
    }

    private static ShardTechnique instantiate(Class<? extends ShardTechnique> c) {
        try {
            Constructor<? extends ShardTechnique> ctor = c.getDeclaredConstructor();
            ctor.setAccessible(true);
            return ctor.newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("technique " + c.getName() + " has no usable no-argument constructor: " + e, e);
        }
    }

    Optional<ShardTechnique> find(StageKind kind, String method) {
        return techniques.stream().filter(t -> t.kind() == kind && t.method().equals(method)).findFirst();
    }

    List<String> methods(StageKind kind) {
        return techniques.stream().filter(t -> t.kind() == kind).map(ShardTechnique::method).sorted().toList();
    }

    private static List<String> classNames(ClassLoader cl, String pkg) throws IOException {
        String dir = pkg.replace('.', '/');
        List<String> names = new ArrayList<>();
        Enumeration<URL> roots = cl.getResources(dir);
        for (URL url : Collections.list(roots)) {
            if (url.getProtocol().equals("jar")) {
                JarURLConnection conn = (JarURLConnection) url.openConnection();
                conn.setUseCaches(false);
                try (JarFile jar = conn.getJarFile()) {
                    for (JarEntry e : Collections.list(jar.entries())) add(names, e.getName(), dir);
                }
            } else if (url.getProtocol().equals("file")) {
                try {
                    Path root = Path.of(url.toURI());
                    Path base = root;
                    for (int i = 0; i < dir.split("/").length; i++) base = base.getParent();
                    try (Stream<Path> files = Files.walk(root)) {
                        for (Path f : files.toList()) add(names, base.relativize(f).toString().replace('\\', '/'), dir);
                    }
                } catch (URISyntaxException e) {
                    throw new IOException("bad classpath entry " + url, e);
                }
            }
        }
        return names;
    }

    private static void add(List<String> names, String entry, String dir) {
        if (entry.startsWith(dir + "/") && entry.endsWith(".class") && !entry.contains("$")) {
            names.add(entry.substring(0, entry.length() - ".class".length()).replace('/', '.'));
        }
    }
}
