package io.shardwise.kafka;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

/**
 * A single-node Kafka 4.1 broker in KRaft mode (combined broker + controller), run in-process from the
 * Kafka jars: the broker for Quarkus tests and the local stack, no Docker needed. Small-heap settings;
 * auto-created topics get {@link #DEFAULT_PARTITIONS} partitions so two instances can share a stage.
 */
public final class KraftBroker implements AutoCloseable {
    /** Partitions of an auto-created topic: enough for two instances of one service to split a stage. */
    public static final int DEFAULT_PARTITIONS = 2;
    private static final String HOST = "localhost";
    private static final int NODE_ID = 1;

    private final KafkaRaftServer server;
    private final Path dataDir;
    private final boolean deleteOnClose;
    private final String bootstrap;
    private boolean closed;

    private KraftBroker(KafkaRaftServer server, Path dataDir, boolean deleteOnClose, int port) {
        this.server = server;
        this.dataDir = dataDir;
        this.deleteOnClose = deleteOnClose;
        this.bootstrap = HOST + ":" + port;
    }

    /** Formats {@code dataDir} (kept if already formatted) and starts a broker on {@code port} (0 = a free one). */
    public static KraftBroker start(Path dataDir, int port) {
        return start(dataDir, port, false, Map.of());
    }

    /** A broker in a fresh temporary directory that {@link #close()} deletes. */
    public static KraftBroker startTemporary() {
        try {
            return start(Files.createTempDirectory("shardwise-kafka"), 0, true, Map.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** As {@link #start(Path, int)}, with broker properties that override the defaults. */
    public static KraftBroker start(Path dataDir, int port, boolean deleteOnClose, Map<String, String> overrides) {
        try {
            Files.createDirectories(dataDir);
            int brokerPort = port == 0 ? freePort() : port;
            int controllerPort = freePort();
            Properties props = config(dataDir, brokerPort, controllerPort);
            overrides.forEach(props::setProperty);
            KafkaConfig config = KafkaConfig.fromProps(props, false);
            format(config, dataDir);
            KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
            server.startup();
            KraftBroker broker = new KraftBroker(server, dataDir, deleteOnClose, brokerPort);
            TopicAdmin.awaitReady(broker.bootstrapServers());
            return broker;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start a Kafka broker in " + dataDir, e);
        }
    }

    private static Properties config(Path dataDir, int brokerPort, int controllerPort) {
        Properties p = new Properties();
        p.setProperty("node.id", Integer.toString(NODE_ID));
        p.setProperty("process.roles", "broker,controller");
        p.setProperty("controller.listener.names", "CONTROLLER");
        p.setProperty("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        p.setProperty("listeners", "PLAINTEXT://" + HOST + ":" + brokerPort + ",CONTROLLER://" + HOST + ":" + controllerPort);
        p.setProperty("advertised.listeners", "PLAINTEXT://" + HOST + ":" + brokerPort);
        p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.setProperty("inter.broker.listener.name", "PLAINTEXT");
        p.setProperty("log.dirs", dataDir.resolve("logs").toString());
        p.setProperty("metadata.log.dir", dataDir.resolve("metadata").toString());
        p.setProperty("num.partitions", Integer.toString(DEFAULT_PARTITIONS));
        p.setProperty("default.replication.factor", "1");
        p.setProperty("offsets.topic.replication.factor", "1");
        p.setProperty("offsets.topic.num.partitions", "4");
        p.setProperty("transaction.state.log.replication.factor", "1");
        p.setProperty("transaction.state.log.min.isr", "1");
        p.setProperty("share.coordinator.state.topic.replication.factor", "1");
        p.setProperty("share.coordinator.state.topic.min.isr", "1");
        p.setProperty("group.initial.rebalance.delay.ms", "0");
        p.setProperty("log.cleaner.dedupe.buffer.size", "2097152");
        p.setProperty("log.cleaner.threads", "1");
        p.setProperty("num.network.threads", "2");
        p.setProperty("num.io.threads", "2");
        p.setProperty("background.threads", "2");
        p.setProperty("num.recovery.threads.per.data.dir", "1");
        p.setProperty("controlled.shutdown.enable", "false");
        p.setProperty("delete.topic.enable", "true");
        p.setProperty("auto.create.topics.enable", "true");
        p.setProperty("log.segment.bytes", Integer.toString(16 * 1024 * 1024));
        return p;
    }

    private static void format(KafkaConfig config, Path dataDir) {
        Formatter formatter = new Formatter()
                .setClusterId(existingClusterId(dataDir).orElseGet(() -> Uuid.randomUuid().toString()))
                .setNodeId(config.nodeId())
                .setIgnoreFormatted(true) // a restarted local stack keeps its topics
                .setControllerListenerName("CONTROLLER")
                .setMetadataLogDirectory(config.metadataLogDir())
                .setPrintStream(System.err);
        formatter.addDirectory(dataDir.resolve("logs").toString());
        formatter.addDirectory(config.metadataLogDir());
        try {
            formatter.run();
        } catch (Exception e) {
            throw new IllegalStateException("formatting Kafka storage in " + dataDir + " failed: " + e.getMessage(), e);
        }
    }

    /** A restarted broker keeps its directory's cluster id (the formatter refuses a different one). */
    private static java.util.Optional<String> existingClusterId(Path dataDir) {
        Path meta = dataDir.resolve("logs").resolve("meta.properties");
        if (!Files.exists(meta)) return java.util.Optional.empty();
        Properties p = new Properties();
        try (var in = Files.newInputStream(meta)) {
            p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + meta, e);
        }
        return java.util.Optional.ofNullable(p.getProperty("cluster.id"));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 0, InetAddress.getByName(HOST))) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    /** {@code localhost:port} of the PLAINTEXT listener. */
    public String bootstrapServers() {
        return bootstrap;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** Creates topics (name -> partitions) unless they exist. */
    public void createTopics(Map<String, Integer> partitionsByTopic) {
        TopicAdmin.createTopics(bootstrap, partitionsByTopic);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        server.shutdown();
        server.awaitShutdown();
        if (deleteOnClose) deleteTree(dataDir);
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            List<Path> all = new ArrayList<>(files.sorted(Comparator.reverseOrder()).toList());
            for (Path f : all) Files.deleteIfExists(f);
        } catch (IOException e) {
            System.err.println("could not delete Kafka data dir " + dir + ": " + e);
        }
    }

    /**
     * Runs a broker as its own JVM: {@code --dir D [--port P] [--topics a:2,b:1]}. Prints exactly one line
     * {@code KAFKA_READY <host:port>} on stdout when it accepts clients; stops cleanly on SIGTERM.
     */
    public static void main(String[] args) throws InterruptedException {
        // the broker's INFO chatter would bury a launcher's log; -Dorg.slf4j.simpleLogger.defaultLogLevel=info brings it back
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        Path dir = null;
        int port = 0;
        String topics = "";
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) usage("missing value after " + a);
            switch (a) {
                case "--dir" -> dir = Path.of(args[++i]);
                case "--port" -> port = parsePort(args[++i]);
                case "--topics" -> topics = args[++i];
                default -> usage("unknown argument " + a);
            }
        }
        if (dir == null) usage("--dir is required");
        KraftBroker broker = start(dir, port);
        if (!topics.isBlank()) broker.createTopics(TopicAdmin.parseTopicList(topics));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            broker.close();
            stopped.countDown();
        }, "kafka-stop"));
        System.out.println("KAFKA_READY " + broker.bootstrapServers());
        System.out.flush();
        stopped.await();
    }

    private static int parsePort(String s) {
        try {
            int p = Integer.parseInt(s);
            if (p < 0 || p > 65535) usage("--port must be 0..65535, got " + s);
            return p;
        } catch (NumberFormatException e) {
            usage("--port must be a number, got '" + s + "'");
            return -1;
        }
    }

    private static void usage(String error) {
        System.err.println("KraftBroker: " + error + "\nusage: KraftBroker --dir <data dir> [--port <port, 0 = free>] [--topics name:partitions,...]");
        System.exit(2);
    }
}
