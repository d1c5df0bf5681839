package io.shardwise.cli;

import io.shardwise.proto.v1.Job;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/** {@code shardwise cancel JOB}. */
@Command(name = "cancel", description = "Cancel a job; services skip its remaining tasks.")
public final class CancelCommand implements Callable<Integer> {
    @Mixin
    ServerOption server;

    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Option(names = "--reason", defaultValue = "cancelled from the command line")
    String reason;

    @Override
    public Integer call() {
        try (JobClient client = JobClient.connect(server.address())) {
            Job j = client.cancel(job, reason);
            System.out.println(j.getJobId() + " " + JobFormat.stateName(j.getState()));
            return 0;
        }
    }
}
