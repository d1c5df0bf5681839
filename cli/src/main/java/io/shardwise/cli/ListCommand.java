package io.shardwise.cli;

import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ListJobsResponse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code shardwise list [--state S] [--page-size N] [--page-token T]}. */
@Command(name = "list", description = "List jobs (paged), optionally by state.")
public final class ListCommand implements Callable<Integer> {
    @Mixin
    ServerOption server;

    @Option(names = "--state", paramLabel = "STATE", description = "QUEUED, RUNNING, EVALUATING, SUCCEEDED, FAILED or CANCELLED")
    JobState state;

    @Option(names = "--page-size", paramLabel = "N", defaultValue = "20")
    int pageSize;

    @Option(names = "--page-token", paramLabel = "TOKEN", description = "the next-page token a previous list printed")
    String pageToken;

    @Override
    public Integer call() {
        if (state == JobState.UNRECOGNIZED) throw new IllegalArgumentException("--state: unknown state");
        if (pageSize <= 0) throw new IllegalArgumentException("--page-size: must be positive, got " + pageSize);
        try (JobClient client = JobClient.connect(server.address())) {
            ListJobsResponse r = client.list(state == null ? JobState.JOB_STATE_UNSPECIFIED : state, pageSize, pageToken);
            for (Job j : r.getJobsList()) System.out.println(JobFormat.listRow(j));
            if (!r.getNextPageToken().isEmpty()) System.out.println("next page: --page-token " + r.getNextPageToken());
            return 0;
        }
    }
}
