package io.shardwise.cli;

import io.shardwise.cli.RepoLayout.Service;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.StageKind;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * The whole system on one machine: a KRaft broker and the gateway and the four services, each its
 * own JVM, logs in one folder. Closing it (or Ctrl-C, via a shutdown hook) stops every process it
 * started: SIGTERM first, then SIGKILL for those still running after a grace period.
 */
public final class LocalStack implements AutoCloseable {
    /** JVM flags every Shardwise JVM runs with (parent pom property shardwise.jvm.flags). */
    public static final List<String> JVM_FLAGS = List.of("--add-modules", "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true");

    /**
     * What to start and where: run folder (logs/, kafka/ under it), blob root, allowed model roots,
     * output folder, instances per service, the gateway's gRPC port (0 = a free one), and extra
     * {@code -D} properties for every service.
     */
    public record Options(Path runDir, Path blobRoot, List<Path> modelRoots, Path outputDir,
                          Map<Service, Integer> instances, int grpcPort, Map<Service, Map<String, String>> properties) {
        public static Options in(Path runDir) {
            return new Options(runDir, runDir.resolve("blobs"), List.of(), runDir.resolve("output"),
                    Map.of(), 0, Map.of());
        }

        public Options withModelRoots(List<Path> roots) {
            return new Options(runDir, blobRoot, roots, outputDir, instances, grpcPort, properties);
        }

        public Options withInstances(Service s, int n) {
            Map<Service, Integer> m = new EnumMap<>(Service.class);
            m.putAll(instances);
            m.put(s, n);
            return new Options(runDir, blobRoot, modelRoots, outputDir, m, grpcPort, properties);
        }

        public Options withGrpcPort(int port) {
            return new Options(runDir, blobRoot, modelRoots, outputDir, instances, port, properties);
        }

        /** Extra {@code -D} properties for the JVMs of the given services. */
        public Options withProperties(Map<String, String> props, Service... services) {
            Map<Service, Map<String, String>> m = new EnumMap<>(Service.class);
            m.putAll(properties);
            for (Service s : services) {
                Map<String, String> p = new LinkedHashMap<>(m.getOrDefault(s, Map.of()));
                p.putAll(props);
                m.put(s, p);
            }
            return new Options(runDir, blobRoot, modelRoots, outputDir, instances, grpcPort, m);
        }

        public Map<String, String> properties(Service s) {
            return properties.getOrDefault(s, Map.of());
        }

        public int instances(Service s) {
            return instances.getOrDefault(s, 1);
        }

        public Path logDir() {
            return runDir.resolve("logs");
        }
    }

    private static final Duration BROKER_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration SERVICES_TIMEOUT = Duration.ofMinutes(4);
    private static final String KAFKA_MAIN = "io.shardwise.kafka.KraftBroker";
    private static final Set<StageKind> TECHNIQUE_KINDS = EnumSet.of(StageKind.PRUNE, StageKind.DISTILL, StageKind.QUANTIZE);

    private final RepoLayout layout;
    private final Options options;
    private final Consumer<String> log;
    private final List<StackProcess> processes = Collections.synchronizedList(new ArrayList<>());
    private final Thread hook = new Thread(this::stopAll, "shardwise-stack-stop");
    private String bootstrap;
    private String grpcAddress;
    private boolean stopped;

    private LocalStack(RepoLayout layout, Options options, Consumer<String> log) {
        this.layout = layout;
        this.options = options;
        this.log = log;
    }

    /** Starts broker, gateway and services and waits until the gateway lists all three technique kinds. */
    public static LocalStack start(RepoLayout layout, Options options, Consumer<String> log) throws IOException, InterruptedException {
        layout.missingJar().ifPresent(jar -> {
            throw new IllegalStateException(jar + " is missing: build the project first (./mvnw -DskipTests install, or run bin/shardwise which builds on first use)");
        });
        LocalStack stack = new LocalStack(layout, options, log);
        Runtime.getRuntime().addShutdownHook(stack.hook);
        try {
            stack.startAll();
            return stack;
        } catch (IOException | InterruptedException | RuntimeException e) {
            stack.close();
            throw e;
        }
    }

    private void startAll() throws IOException, InterruptedException {
        Files.createDirectories(options.logDir());
        Files.createDirectories(options.blobRoot());
        Files.createDirectories(options.outputDir());
        long t0 = System.nanoTime();
        startBroker();
        log.accept(String.format("kafka: ready at %s (%.1f s)", bootstrap, (System.nanoTime() - t0) / 1e9));
        int grpcPort = options.grpcPort() > 0 ? options.grpcPort() : freePort();
        grpcAddress = "localhost:" + grpcPort;
        for (Service s : Service.values()) {
            for (int i = 1; i <= options.instances(s); i++) startService(s, i, grpcPort);
        }
        awaitTechniques();
        log.accept(String.format("stack: gateway %s and %d service JVMs ready (%.1f s), logs in %s", grpcAddress,
                processes.size() - 2, (System.nanoTime() - t0) / 1e9, options.logDir()));
    }

    private void startBroker() throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(java(), "-Xmx512m", "-Xms64m", "-XX:+UseSerialGC",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", brokerClasspath(), KAFKA_MAIN, "--dir", options.runDir().resolve("kafka").toString(), "--port", "0"));
        StackProcess broker = launch("kafka", cmd);
        long deadline = System.nanoTime() + BROKER_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            for (String line : Files.readAllLines(broker.log(), StandardCharsets.ISO_8859_1)) {
                if (line.startsWith("KAFKA_READY ")) {
                    bootstrap = line.substring("KAFKA_READY ".length()).trim();
                    return;
                }
            }
            if (!broker.alive()) throw new IllegalStateException("the Kafka broker exited with " + broker.process().exitValue() + "; its log " + broker.log() + " ends:\n" + broker.logTail(30));
            Thread.sleep(200);
        }
        throw new IllegalStateException("the Kafka broker did not print KAFKA_READY within " + BROKER_TIMEOUT.toSeconds() + " s; see " + broker.log());
    }

    /** cli/target/lib holds the Kafka jars after {@code package}; before that (tests), this JVM's classpath has them. */
    private String brokerClasspath() throws IOException {
        Path lib = layout.root().resolve("cli/target/lib");
        if (Files.isDirectory(lib)) {
            try (var jars = Files.list(lib)) {
                if (jars.anyMatch(j -> j.getFileName().toString().startsWith("shardwise-local-kafka"))) return lib + "/*";
            }
        }
        return System.getProperty("java.class.path");
    }

    private void startService(Service s, int instance, int grpcPort) throws IOException {
        String name = options.instances(s) > 1 ? s.shortName() + "-" + instance : s.shortName();
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.addAll(JVM_FLAGS);
        cmd.addAll(List.of(heap(s), "-Xms64m", "-XX:+UseSerialGC"));
        Map<String, String> props = new LinkedHashMap<>();
        props.put("kafka.bootstrap.servers", bootstrap);
        props.put("shardwise.blob-root", options.blobRoot().toString());
        props.put("shardwise.output-dir", options.outputDir().toString());
        if (!options.modelRoots().isEmpty()) {
            props.put("shardwise.model-roots", options.modelRoots().stream().map(Path::toString).collect(Collectors.joining(",")));
        }
        layout.shared().ifPresent(sh -> props.put("shardwise.data-dir", sh.resolve("data").toString()));
        props.put("shardwise.instance", name);
        long shardMemory = shardMemory(s);
        if (shardMemory > 0) props.put("shardwise.memory-bytes", Long.toString(shardMemory));
        props.put("quarkus.http.port", Integer.toString(freePort()));
        if (s == Service.GATEWAY) {
            props.put("shardwise.grpc-port", Integer.toString(grpcPort));
            props.put("quarkus.grpc.server.port", Integer.toString(grpcPort));
        }
        props.putAll(options.properties(s));
        props.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.addAll(List.of("-jar", layout.quarkusJar(s).toString()));
        launch(name, cmd);
    }

    /**
     * Modest heaps: tensors live in mapped blobs and DJL's native memory, not on the Java heap. A launcher
     * property {@code shardwise.stack.heap.<service>} (e.g. {@code -Dshardwise.stack.heap.evaluator=3g}) overrides one.
     */
    static String heap(Service s) {
        String override = System.getProperty("shardwise.stack.heap." + s.shortName());
        if (override != null && override.matches("[0-9]+[kmgKMG]?")) return "-Xmx" + override;
        return switch (s) {
            case GATEWAY, QUANTIZER, PRUNER -> "-Xmx512m";
            case DISTILLER, EVALUATOR -> "-Xmx1g";
        };
    }

    /**
     * What a per-shard technique service declares for one shard task (0: its heap): a shard's input is mapped
     * and its output native, both outside the heap, so the gateway's plan (2x the largest shard + margin) is
     * checked against this. 2 GiB takes the largest shard of Llama 3.2 1B (the F16 embedding, 501 MiB) and of
     * Llama 2 7B (an F16 block, 386 MiB).
     */
    static long shardMemory(Service s) {
        return switch (s) {
            case QUANTIZER, PRUNER -> 2L << 30;
            case GATEWAY, DISTILLER, EVALUATOR -> 0;
        };
    }

    private StackProcess launch(String name, List<String> cmd) throws IOException {
        Path logFile = options.logDir().resolve(name + ".log");
        Files.writeString(logFile, "# " + String.join(" ", cmd) + "\n");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        pb.directory(options.runDir().toFile());
        StackProcess p = new StackProcess(name, pb.start(), logFile);
        processes.add(p);
        log.accept(name + ": started, pid " + p.pid() + ", log " + logFile);
        return p;
    }

    private void awaitTechniques() throws InterruptedException {
        long deadline = System.nanoTime() + SERVICES_TIMEOUT.toNanos();
        String lastError = "no answer yet";
        try (JobClient client = JobClient.connect(grpcAddress)) {
            while (System.nanoTime() < deadline) {
                for (StackProcess p : processes) {
                    if (!p.alive()) {
                        throw new IllegalStateException(p.name() + " exited with " + p.process().exitValue() + " while starting; its log " + p.log() + " ends:\n" + p.logTail(30));
                    }
                }
                try {
                    Set<StageKind> kinds = EnumSet.noneOf(StageKind.class);
                    for (Capabilities c : client.techniques().getServicesList()) kinds.add(c.getKind());
                    if (kinds.containsAll(TECHNIQUE_KINDS)) return;
                    lastError = "the gateway lists only " + kinds;
                } catch (RuntimeException e) {
                    lastError = e.getMessage();
                }
                Thread.sleep(1000);
            }
        }
        throw new IllegalStateException("the gateway at " + grpcAddress + " did not list prune, distill and quantize services within "
                + SERVICES_TIMEOUT.toSeconds() + " s (" + lastError + "); logs in " + options.logDir());
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 0, InetAddress.getByName("localhost"))) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    public String grpcAddress() {
        return grpcAddress;
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    public Options options() {
        return options;
    }

    public List<StackProcess> processes() {
        synchronized (processes) {
            return List.copyOf(processes);
        }
    }

    /** The running instances of a service (e.g. both quantizers of a two-instance stack). */
    public List<StackProcess> instances(Service s) {
        return processes().stream().filter(p -> p.name().equals(s.shortName()) || p.name().startsWith(s.shortName() + "-")).toList();
    }

    /** Peak RSS in KiB per running process, by name. */
    public Map<String, Long> peakRssKib() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (StackProcess p : processes()) {
            OptionalLong v = p.peakRssKib();
            if (v.isPresent()) m.put(p.name(), v.getAsLong());
        }
        return m;
    }

    @Override
    public void close() {
        stopAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // already shutting down: the hook is running or ran
        }
    }

    private synchronized void stopAll() {
        if (stopped) return;
        stopped = true;
        Map<String, Long> rss = peakRssKib();
        if (!rss.isEmpty()) {
            String line = rss.entrySet().stream().map(e -> String.format("%s %.0f MiB", e.getKey(), e.getValue() / 1024.0))
                    .collect(Collectors.joining(", "));
            log.accept("peak RSS: " + line);
            try {
                Files.writeString(options.logDir().resolve("peak-rss.txt"), rss.entrySet().stream()
                        .map(e -> e.getKey() + "\t" + e.getValue() + " KiB").collect(Collectors.joining("\n", "", "\n")));
            } catch (IOException e) {
                log.accept("could not write peak-rss.txt: " + e.getMessage());
            }
        }
        List<StackProcess> all = new ArrayList<>(processes());
        Collections.reverse(all); // services before the broker, so they can leave their groups
        List<StackProcess> services = all.stream().filter(p -> !p.name().equals("kafka")).toList();
        services.forEach(p -> p.process().destroy());
        awaitExit(services, Duration.ofSeconds(15));
        all.stream().filter(p -> p.name().equals("kafka")).forEach(p -> p.process().destroy());
        awaitExit(all, Duration.ofSeconds(15));
        for (StackProcess p : all) {
            if (p.alive()) {
                log.accept(p.name() + ": still running after SIGTERM, killing it");
                p.kill9();
            }
        }
    }

    private static void awaitExit(List<StackProcess> ps, Duration grace) {
        long deadline = System.nanoTime() + grace.toNanos();
        for (StackProcess p : ps) {
            long left = deadline - System.nanoTime();
            try {
                if (left > 0) p.process().waitFor(left, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
