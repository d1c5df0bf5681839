package io.shardwise.cli;

import io.shardwise.cli.RepoLayout.Service;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code shardwise stack}: the local stack, kept running for {@code submit}/{@code watch} until Ctrl-C. */
@Command(name = "stack", description = "Start Kafka, the gateway and the four services locally and keep them running until Ctrl-C.")
public final class StackCommand implements Callable<Integer> {
    @Option(names = "--port", defaultValue = "9000", description = "the gateway's gRPC port (default ${DEFAULT-VALUE}; 0 = a free one)")
    int port;

    @Option(names = "--model-root", paramLabel = "DIR", description = "a folder models may be read from (repeatable; default: the working directory)")
    List<Path> modelRoots = new ArrayList<>();

    @Option(names = "--dir", paramLabel = "DIR", description = "run folder for logs, Kafka data, blobs and outputs (default out/stack-<time>)")
    Path dir;

    @Option(names = "--instances", paramLabel = "SERVICE=N", description = "instances of a service, e.g. quantizer=2")
    Map<Service, Integer> instances = Map.of();

    @Override
    public Integer call() throws Exception {
        RepoLayout layout = RepoLayout.find();
        Path runDir = dir != null ? dir.toAbsolutePath() : DemoCommand.timestamped(layout, "stack");
        List<Path> roots = new ArrayList<>();
        for (Path r : modelRoots.isEmpty() ? List.of(Path.of("")) : modelRoots) roots.add(r.toAbsolutePath().normalize());
        layout.shared().ifPresent(s -> roots.add(s.resolve("data")));
        LocalStack.Options options = LocalStack.Options.in(runDir).withModelRoots(roots).withGrpcPort(port);
        for (Map.Entry<Service, Integer> e : instances.entrySet()) options = options.withInstances(e.getKey(), e.getValue());
        LocalStack stack = LocalStack.start(layout, options, System.err::println);
        System.out.println("gateway listening on " + stack.grpcAddress() + " (export SHARDWISE_SERVER=" + stack.grpcAddress()
                + "); Ctrl-C stops everything");
        CountDownLatch forever = new CountDownLatch(1);
        forever.await(); // the shutdown hook stops the stack on Ctrl-C
        return 0;
    }
}
