package io.shardwise.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/** {@code shardwise get JOB}. */
@Command(name = "get", description = "Show a job: state, stages, scores, output and error.")
public final class GetCommand implements Callable<Integer> {
    @Mixin
    ServerOption server;

    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Override
    public Integer call() {
        try (JobClient client = JobClient.connect(server.address())) {
            System.out.print(JobFormat.job(client.get(job)));
            return 0;
        }
    }
}
