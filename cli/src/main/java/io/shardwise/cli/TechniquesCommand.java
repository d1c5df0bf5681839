package io.shardwise.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

/** {@code shardwise techniques}: what the running services can do. */
@Command(name = "techniques", description = "List the techniques the running services publish, with their parameters.")
public final class TechniquesCommand implements Callable<Integer> {
    @Mixin
    ServerOption server;

    @Override
    public Integer call() {
        try (JobClient client = JobClient.connect(server.address())) {
            System.out.print(JobFormat.techniques(client.techniques().getServicesList()));
            return 0;
        }
    }
}
