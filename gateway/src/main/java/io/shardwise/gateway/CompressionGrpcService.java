package io.shardwise.gateway;

import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.shardwise.proto.v1.CancelJobRequest;
import io.shardwise.proto.v1.CompressionServiceGrpc;
import io.shardwise.proto.v1.GetJobRequest;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.ListJobsRequest;
import io.shardwise.proto.v1.ListJobsResponse;
import io.shardwise.proto.v1.ListTechniquesRequest;
import io.shardwise.proto.v1.ListTechniquesResponse;
import io.shardwise.proto.v1.SubmitJobRequest;
import io.shardwise.proto.v1.WatchJobRequest;
import io.smallrye.common.annotation.Blocking;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.List;
import java.util.UUID;

/**
 * The public gRPC API: a thin adapter over {@link JobIntake} and {@link JobCoordinator}. Every method
 * is @Blocking: they may wait for the startup replay or the coordinator's lock, never on the event loop.
 */
@GrpcService
public class CompressionGrpcService extends CompressionServiceGrpc.CompressionServiceImplBase {
    private static final Logger LOG = Logger.getLogger(CompressionGrpcService.class);
    static final int DEFAULT_PAGE = 50, MAX_PAGE = 500;

    @Inject
    GatewayRuntime runtime;

    @Override
    @Blocking
    public void submitJob(SubmitJobRequest req, StreamObserver<Job> out) {
        if (!ready(out)) return;
        String jobId = "job-" + UUID.randomUUID().toString().substring(0, 13).replace("-", "");
        SubmitPlan plan;
        try {
            plan = runtime.intake().prepare(jobId, req);
        } catch (JobRejected e) {
            LOG.infof("job %s refused (%s): %s", jobId, e.code(), e.getMessage());
            out.onError(e.toStatus());
            return;
        } catch (RuntimeException e) {
            LOG.errorf(e, "job %s: submit failed", jobId);
            out.onError(Status.INTERNAL.withDescription("submit failed: " + e).asRuntimeException());
            return;
        }
        runtime.decide(() -> runtime.coordinator().submit(plan));
        out.onNext(runtime.coordinator().job(jobId).orElseThrow());
        out.onCompleted();
    }

    @Override
    @Blocking
    public void getJob(GetJobRequest req, StreamObserver<Job> out) {
        if (!ready(out)) return;
        var job = runtime.coordinator().job(req.getJobId());
        if (job.isEmpty()) {
            out.onError(notFound(req.getJobId()));
            return;
        }
        out.onNext(job.get());
        out.onCompleted();
    }

    @Override
    @Blocking
    public void listJobs(ListJobsRequest req, StreamObserver<ListJobsResponse> out) {
        if (!ready(out)) return;
        if (req.getPageSize() < 0) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("page_size: " + req.getPageSize() + " is negative").asRuntimeException());
            return;
        }
        int size = req.getPageSize() == 0 ? DEFAULT_PAGE : Math.min(req.getPageSize(), MAX_PAGE);
        List<Job> jobs = runtime.coordinator().jobs(req.getState());
        int start = 0;
        if (!req.getPageToken().isEmpty()) {
            start = -1;
            for (int i = 0; i < jobs.size(); i++) if (jobs.get(i).getJobId().equals(req.getPageToken())) start = i + 1;
            if (start < 0) {
                out.onError(Status.INVALID_ARGUMENT.withDescription("page_token: '" + req.getPageToken() + "' is not a job of this listing").asRuntimeException());
                return;
            }
        }
        int end = Math.min(jobs.size(), start + size);
        ListJobsResponse.Builder b = ListJobsResponse.newBuilder().addAllJobs(jobs.subList(start, end));
        // the token is the last job returned: new jobs sort after it, so pages stay stable
        if (end < jobs.size()) b.setNextPageToken(jobs.get(end - 1).getJobId());
        out.onNext(b.build());
        out.onCompleted();
    }

    @Override
    @Blocking
    public void watchJob(WatchJobRequest req, StreamObserver<JobEvent> out) {
        if (!ready(out)) return;
        ServerCallStreamObserver<JobEvent> call = (ServerCallStreamObserver<JobEvent>) out;
        JobCoordinator.Watcher w = new JobCoordinator.Watcher() {
            @Override
            public void event(JobEvent e) {
                if (!call.isCancelled()) call.onNext(e);
            }

            @Override
            public void end() {
                if (!call.isCancelled()) call.onCompleted();
            }
        };
        call.setOnCancelHandler(() -> runtime.coordinator().unwatch(req.getJobId(), w));
        if (!runtime.coordinator().watch(req.getJobId(), req.getFromSeq(), w)) out.onError(notFound(req.getJobId()));
    }

    @Override
    @Blocking
    public void cancelJob(CancelJobRequest req, StreamObserver<Job> out) {
        if (!ready(out)) return;
        var job = runtime.coordinator().job(req.getJobId());
        if (job.isEmpty()) {
            out.onError(notFound(req.getJobId()));
            return;
        }
        switch (job.get().getState()) {
            case SUCCEEDED, FAILED, CANCELLED -> {
                out.onError(Status.FAILED_PRECONDITION.withDescription("job_id: " + req.getJobId() + " already finished as " + job.get().getState()).asRuntimeException());
                return;
            }
            default -> runtime.decide(() -> runtime.coordinator().cancel(req.getJobId(), req.getReason()));
        }
        out.onNext(runtime.coordinator().job(req.getJobId()).orElseThrow());
        out.onCompleted();
    }

    @Override
    @Blocking
    public void listTechniques(ListTechniquesRequest req, StreamObserver<ListTechniquesResponse> out) {
        out.onNext(ListTechniquesResponse.newBuilder().addAllServices(runtime.capabilities().all()).build());
        out.onCompleted();
    }

    private boolean ready(StreamObserver<?> out) {
        if (runtime.awaitReady(30)) return true;
        out.onError(Status.UNAVAILABLE.withDescription("the gateway is still replaying its job log").asRuntimeException());
        return false;
    }

    private static RuntimeException notFound(String jobId) {
        return Status.NOT_FOUND.withDescription("job_id: no job '" + jobId + "'").asRuntimeException();
    }
}
