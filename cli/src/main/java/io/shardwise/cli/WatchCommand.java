package io.shardwise.cli;

import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/** {@code shardwise watch JOB [--from-seq N]}: progress per stage and shard until the job finishes. */
@Command(name = "watch", description = "Stream a job's events (per stage and shard) until it finishes.")
public final class WatchCommand implements Callable<Integer> {
    @Mixin
    ServerOption server;

    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Option(names = "--from-seq", paramLabel = "N", description = "resume after event sequence number N (default: from the start)")
    long fromSeq;

    @Option(names = "--json", description = "print scored events as JSON lines instead of progress")
    boolean json;

    @Override
    public Integer call() {
        try (JobClient client = JobClient.connect(server.address())) {
            EventPrinter printer = new EventPrinter();
            if (fromSeq > 0) printer.recipe(client.get(job).getRecipe());
            JobEvent last = client.watch(job, fromSeq, e -> {
                String line = printer.line(e);
                if (json) {
                    if (e.hasScored() && JobFormat.shown(e.getScored())) System.out.println(Json.scored(e.getScored()));
                } else if (line != null) {
                    System.out.println("#" + e.getSeq() + " " + line);
                }
            });
            return last != null && last.hasFinished() && last.getFinished().getState() == JobState.SUCCEEDED ? 0 : 1;
        }
    }
}
