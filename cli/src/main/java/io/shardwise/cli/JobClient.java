package io.shardwise.cli;

import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.shardwise.proto.v1.CancelJobRequest;
import io.shardwise.proto.v1.CompressionServiceGrpc;
import io.shardwise.proto.v1.GetJobRequest;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ListJobsRequest;
import io.shardwise.proto.v1.ListJobsResponse;
import io.shardwise.proto.v1.ListTechniquesRequest;
import io.shardwise.proto.v1.ListTechniquesResponse;
import io.shardwise.proto.v1.SubmitJobRequest;
import io.shardwise.proto.v1.WatchJobRequest;

import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/** The gateway's CompressionService as the CLI (and the demo and its tests) use it. */
public final class JobClient implements AutoCloseable {
    private final ManagedChannel channel;
    private final CompressionServiceGrpc.CompressionServiceBlockingStub stub;

    public JobClient(ManagedChannel channel) {
        this.channel = channel;
        this.stub = CompressionServiceGrpc.newBlockingStub(channel);
    }

    public static JobClient connect(String address) {
        return new JobClient(ServerOption.channel(address));
    }

    private CompressionServiceGrpc.CompressionServiceBlockingStub unary() {
        return stub.withDeadlineAfter(2, TimeUnit.MINUTES);
    }

    /** Submits a job; the gateway validates model and recipe before anything is queued. */
    public Job submit(String modelUri, String recipeYaml) {
        return unary().submitJob(SubmitJobRequest.newBuilder().setModelUri(modelUri == null ? "" : modelUri)
                .setRecipeYaml(recipeYaml).build());
    }

    public Job get(String jobId) {
        return unary().getJob(GetJobRequest.newBuilder().setJobId(jobId).build());
    }

    public ListJobsResponse list(JobState state, int pageSize, String pageToken) {
        return unary().listJobs(ListJobsRequest.newBuilder().setState(state).setPageSize(pageSize)
                .setPageToken(pageToken == null ? "" : pageToken).build());
    }

    public Job cancel(String jobId, String reason) {
        return unary().cancelJob(CancelJobRequest.newBuilder().setJobId(jobId).setReason(reason).build());
    }

    public ListTechniquesResponse techniques() {
        return stub.withDeadlineAfter(10, TimeUnit.SECONDS).listTechniques(ListTechniquesRequest.getDefaultInstance());
    }

    /**
     * Streams the job's events after {@code fromSeq} to {@code sink} until the job finishes (the
     * stream is closed then) or the server ends the stream. Returns the last event seen, or null.
     */
    public JobEvent watch(String jobId, long fromSeq, Consumer<JobEvent> sink) {
        JobEvent last = null;
        try (Context.CancellableContext ctx = Context.current().withCancellation()) {
            Context previous = ctx.attach();
            try {
                Iterator<JobEvent> it = stub.watchJob(WatchJobRequest.newBuilder().setJobId(jobId).setFromSeq(fromSeq).build());
                while (it.hasNext()) {
                    last = it.next();
                    sink.accept(last);
                    if (last.getKindCase() == JobEvent.KindCase.FINISHED) break;
                }
            } finally {
                ctx.detach(previous);
                ctx.cancel(null);
            }
        }
        return last;
    }

    public ManagedChannel channel() {
        return channel;
    }

    @Override
    public void close() {
        ServerOption.close(channel);
    }
}
