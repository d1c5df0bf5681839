package io.shardwise.gateway;

import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.EvalTask;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobControl;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobFinished;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.JobSubmitted;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.ShardCompleted;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardProgressed;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageCompleted;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.StageStarted;
import io.shardwise.proto.v1.StageTask;
import io.shardwise.proto.v1.TensorEntry;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * Folds shard events and scores into job state and decides what comes next (the recipe is the
 * routing slip): stage tasks per shard, the stage's output manifest, evaluation tasks, the output
 * file. Every state change is a {@link JobEvent} applied through {@link JobRecord#apply}, the same
 * fold that {@link #replay} uses, so a restarted gateway has the state the old one had. Plain Java:
 * callers publish the returned {@link Outbound}s. Thread-safe (one lock).
 */
public final class JobCoordinator {
    private static final Logger LOG = Logger.getLogger(JobCoordinator.class);

    /** Receives a job's events as they happen (WatchJob); {@link #end} after the job finished. */
    public interface Watcher {
        void event(JobEvent e);

        void end();
    }

    private final StageOutputs outputs;
    private final LongSupplier clock;
    private final Map<String, JobRecord> jobs = new LinkedHashMap<>();
    private final Map<String, List<Watcher>> watchers = new HashMap<>();

    public JobCoordinator(StageOutputs outputs, LongSupplier clock) {
        this.outputs = outputs;
        this.clock = clock;
    }

    // ---- inputs -------------------------------------------------------------------------------

    /** Queues a validated job: JobSubmitted, stage 0's tasks and the source model's evaluation. */
    public synchronized List<Outbound> submit(SubmitPlan p) {
        if (jobs.containsKey(p.jobId())) throw new IllegalArgumentException("job " + p.jobId() + " exists");
        JobRecord job = new JobRecord(p.jobId());
        jobs.put(p.jobId(), job);
        List<Outbound> out = new ArrayList<>();
        emit(job, JobEvent.newBuilder().setSubmitted(JobSubmitted.newBuilder().setModelUri(p.modelUri())
                .setRecipe(p.recipe()).setSourceManifest(p.sourceManifest()).addAllPlan(p.sourcePlan())
                .addAllStagePlans(p.stagePlans())), out);
        out.add(evalTask(job, -1, "source", "", p.sourceManifest()));
        startStage(job, 0, p.sourceManifest(), out);
        LOG.infof("job %s: submitted, %d stages, source %s", job.jobId, job.stageCount(), p.sourceManifest());
        return out;
    }

    public synchronized List<Outbound> onShardEvent(ShardEvent e) {
        List<Outbound> out = new ArrayList<>();
        JobRecord job = jobs.get(e.getJobId());
        if (job == null) {
            LOG.warnf("job %s stage %d shard %s: event for an unknown job dropped", e.getJobId(), e.getStageIndex(), e.getShardId());
            return out;
        }
        if (job.finished()) return out;
        int si = e.getStageIndex();
        if (job.shard(si, e.getShardId()) == null) {
            LOG.warnf("job %s stage %d shard %s: not a shard of this job's plan, dropped", job.jobId, si, e.getShardId());
            return out;
        }
        if (si >= job.stages.size()) {
            LOG.warnf("job %s stage %d shard %s: stage not started yet, dropped", job.jobId, si, e.getShardId());
            return out;
        }
        JobRecord.StageRun stage = job.stage(si);
        switch (e.getOutcomeCase()) {
            case DONE -> {
                boolean planShard = job.isPlanShard(si, e.getShardId());
                if (stage.completed || stage.isDone(e.getShardId(), planShard)) {
                    LOG.infof("job %s stage %d shard %s: duplicate ShardDone dropped", job.jobId, si, e.getShardId());
                    return out;
                }
                String name = job.recipe.getStages(si).getName();
                List<StageTask> next;
                try {
                    next = new StageTasks(job, si, stage.inputManifest, clock.getAsLong()).after(e.getShardId(), e.getDone());
                } catch (StageTasks.Broken b) {
                    fail(job, "stage " + si + " (" + name + ") shard " + e.getShardId() + ": " + b.getMessage(), out);
                    return out;
                }
                // tasks before the event: a ShardCompleted in the log means the tasks it lets go were sent
                for (StageTask t : next) out.add(taskOut(t));
                int doneCount = stage.done.size() + (planShard ? 0 : 1);
                emit(job, JobEvent.newBuilder().setShardCompleted(ShardCompleted.newBuilder().setStageIndex(si)
                        .setShardId(e.getShardId()).setDone(e.getDone()).setDoneCount(doneCount)
                        .setShardCount(stage.shardCount)), out);
                if (!next.isEmpty()) {
                    LOG.infof("job %s stage %d (%s): %s done, issued %s", job.jobId, si, name, e.getShardId(),
                            next.stream().map(t -> t.getShard().getShardId()).toList());
                }
                if (!planShard && stage.done.size() == stage.shardCount) completeStage(job, si, out);
            }
            case FAILED -> {
                if (!e.getFailed().getDeadLettered()) {
                    LOG.infof("job %s stage %d shard %s: attempt %d failed (will be retried): %s", job.jobId, si,
                            e.getShardId(), e.getFailed().getAttempts(), e.getFailed().getError());
                    return out;
                }
                if (stage.isDone(e.getShardId(), job.isPlanShard(si, e.getShardId()))) return out;
                String name = job.recipe.getStages(si).getName();
                fail(job, "stage " + si + " (" + name + ") shard " + e.getShardId() + " failed after "
                        + e.getFailed().getAttempts() + " attempts: " + e.getFailed().getError(), out);
            }
            case PROGRESS -> {
                if (stage.completed || stage.isDone(e.getShardId(), job.isPlanShard(si, e.getShardId()))) return out;
                emit(job, JobEvent.newBuilder().setShardProgressed(ShardProgressed.newBuilder().setStageIndex(si)
                        .setShardId(e.getShardId()).setFraction(e.getProgress().getFraction())
                        .setMessage(e.getProgress().getMessage())), out);
            }
            case OUTCOME_NOT_SET -> LOG.warnf("job %s stage %d shard %s: event without outcome dropped", job.jobId, si, e.getShardId());
        }
        return out;
    }

    public synchronized List<Outbound> onScored(ModelScored s) {
        List<Outbound> out = new ArrayList<>();
        JobRecord job = jobs.get(s.getJobId());
        if (job == null || job.finished()) return out;
        if (job.scoreKeys.contains(JobRecord.scoreKey(s))) return out;
        emit(job, JobEvent.newBuilder().setScored(s), out);
        if (ScoreMarkers.isEvalFailed(s)) {
            String why = s.getError().isBlank() ? "the evaluator could not score it" : s.getError();
            fail(job, "evaluation of stage " + s.getStageIndex() + " (" + s.getStageName() + ") failed: " + why, out);
        } else if (ScoreMarkers.isEvalDone(s)) {
            LOG.infof("job %s stage %d: evaluation done", job.jobId, s.getStageIndex());
            finishIfDone(job, out);
        }
        return out;
    }

    /** Cancels a running job: a JobControl for the services and JobFinished CANCELLED. Empty when it already finished. */
    public synchronized List<Outbound> cancel(String jobId, String reason) {
        List<Outbound> out = new ArrayList<>();
        JobRecord job = jobs.get(jobId);
        if (job == null || job.finished()) return out;
        String why = reason == null || reason.isBlank() ? "cancelled by request" : reason;
        out.add(new Outbound(Topics.CONTROL, jobId, JobControl.newBuilder().setJobId(jobId).setCancelled(true).setReason(why).build()));
        emit(job, JobEvent.newBuilder().setFinished(JobFinished.newBuilder().setState(JobState.CANCELLED).setError(why)), out);
        LOG.infof("job %s: cancelled (%s)", jobId, why);
        return out;
    }

    /** Rebuild: applies recorded job events (no decisions, nothing published). */
    public synchronized void replay(JobEvent e) {
        JobRecord job = jobs.computeIfAbsent(e.getJobId(), JobRecord::new);
        if (e.getSeq() <= job.lastSeq) return; // a re-published event: the log is at-least-once too
        job.apply(e);
    }

    /**
     * After a replay: finishes what a crash interrupted between two events (a stage whose shards are
     * all done but that has no StageCompleted, a job evaluated in full but not finished).
     */
    public synchronized List<Outbound> resume() {
        List<Outbound> out = new ArrayList<>();
        for (JobRecord job : List.copyOf(jobs.values())) {
            if (job.finished() || job.currentStage < 0) continue;
            JobRecord.StageRun s = job.stage(job.currentStage);
            if (!s.completed && s.shardCount > 0 && s.done.size() == s.shardCount) completeStage(job, job.currentStage, out);
            else finishIfDone(job, out);
        }
        return out;
    }

    // ---- queries ------------------------------------------------------------------------------

    public synchronized Optional<Job> job(String jobId) {
        JobRecord r = jobs.get(jobId);
        return r == null ? Optional.empty() : Optional.of(r.toProto());
    }

    /** Jobs in submission order (then id), optionally only those in {@code state}. */
    public synchronized List<Job> jobs(JobState state) {
        return jobs.values().stream()
                .filter(j -> state == JobState.JOB_STATE_UNSPECIFIED || j.state == state)
                .sorted(Comparator.<JobRecord>comparingLong(j -> j.submittedAtMs).thenComparing(j -> j.jobId))
                .map(JobRecord::toProto).toList();
    }

    public synchronized List<JobEvent> events(String jobId) {
        JobRecord r = jobs.get(jobId);
        return r == null ? List.of() : List.copyOf(r.events);
    }

    /**
     * Sends the job's events after {@code fromSeq} to {@code w}, then follows it live until it
     * finishes. Returns false when the job is unknown.
     */
    public synchronized boolean watch(String jobId, long fromSeq, Watcher w) {
        JobRecord r = jobs.get(jobId);
        if (r == null) return false;
        for (JobEvent e : r.events) if (e.getSeq() > fromSeq) w.event(e);
        if (r.finished()) w.end();
        else watchers.computeIfAbsent(jobId, k -> new ArrayList<>()).add(w);
        return true;
    }

    public synchronized void unwatch(String jobId, Watcher w) {
        List<Watcher> ws = watchers.get(jobId);
        if (ws != null) ws.remove(w);
    }

    // ---- decisions ----------------------------------------------------------------------------

    private void startStage(JobRecord job, int si, String input, List<Outbound> out) {
        StageSpec spec = job.recipe.getStages(si);
        StagePlan plan = job.plan(si);
        List<StageTask> tasks = new StageTasks(job, si, input, clock.getAsLong()).start();
        // tasks before the event: a StageStarted in the log means its tasks were sent
        for (StageTask t : tasks) out.add(taskOut(t));
        emit(job, JobEvent.newBuilder().setStageStarted(StageStarted.newBuilder().setStageIndex(si)
                .setInputManifest(input).setShardCount(plan.getShardsCount())), out);
        LOG.infof("job %s stage %d (%s %s): started, %d shards%s%s, issued %s", job.jobId, si, spec.getName(), spec.getMethod(),
                plan.getShardsCount(), plan.getSequential() ? ", sequential" : "", plan.hasPlanShard() ? ", plan shard first" : "",
                tasks.stream().map(t -> t.getShard().getShardId()).toList());
    }

    /** Keyed by job and shard, not job: a job's tasks spread over the topic's partitions, so instances share a stage. */
    private Outbound taskOut(StageTask t) {
        return new Outbound(Topics.tasksFor(t.getStage().getKind()), taskKey(t.getJobId(), t.getShard().getShardId()), t);
    }

    static String taskKey(String jobId, String shardId) {
        return jobId + "/" + shardId;
    }

    private void completeStage(JobRecord job, int si, List<Outbound> out) {
        JobRecord.StageRun run = job.stage(si);
        StageSpec spec = job.recipe.getStages(si);
        List<TensorEntry> replaced = new ArrayList<>();
        List<String> removed = new ArrayList<>();
        Map<String, Double> stats = new TreeMap<>();
        List<String> notes = new ArrayList<>();
        // plan order, not arrival order: the same shards give the same manifest, stats and notes
        for (ShardRef shard : job.plan(si).getShardsList()) {
            ShardDone d = run.done.get(shard.getShardId());
            replaced.addAll(d.getTensorsList());
            removed.addAll(d.getRemovedList());
            d.getStatsMap().forEach((k, v) -> stats.merge(k, v, Double::sum));
            notes.addAll(d.getNotesList());
        }
        if (run.planDone != null) notes.addAll(0, run.planDone.getNotesList()); // the plan's remarks (its choices), no tensors
        Double zeros = stats.get("zeros"), elements = stats.get("elements");
        if (zeros != null && elements != null && elements > 0) stats.put("sparsity", zeros / elements);
        String manifest;
        try {
            manifest = outputs.derive(run.inputManifest, spec, replaced, removed);
        } catch (Exception ex) {
            fail(job, "stage " + si + " (" + spec.getName() + "): cannot derive its output manifest: " + ex.getMessage(), out);
            return;
        }
        emit(job, JobEvent.newBuilder().setStageCompleted(StageCompleted.newBuilder().setStageIndex(si)
                .setOutputManifest(manifest).putAllStats(stats).addAllNotes(notes)), out);
        LOG.infof("job %s stage %d (%s): completed -> %s", job.jobId, si, spec.getName(), manifest);
        out.add(evalTask(job, si, spec.getName(), spec.getMethod(), manifest));
        if (si + 1 < job.stageCount()) startStage(job, si + 1, manifest, out);
        else finishIfDone(job, out);
    }

    private void finishIfDone(JobRecord job, List<Outbound> out) {
        if (job.finished() || !job.lastStageCompleted() || !job.allEvaluated()) return;
        String finalManifest = job.stage(job.stageCount() - 1).outputManifest;
        String path;
        try {
            path = outputs.writeOutput(job.jobId, finalManifest, job.recipe.getOutput());
        } catch (Exception ex) {
            fail(job, "writing the output model: " + ex.getMessage(), out);
            return;
        }
        emit(job, JobEvent.newBuilder().setFinished(JobFinished.newBuilder().setState(JobState.SUCCEEDED)
                .setOutputPath(path).setFinalManifest(finalManifest)), out);
        LOG.infof("job %s: succeeded, wrote %s", job.jobId, path);
    }

    private void fail(JobRecord job, String error, List<Outbound> out) {
        // the services skip the failed job's remaining tasks, as for a cancelled one; other jobs go on
        out.add(new Outbound(Topics.CONTROL, job.jobId, JobControl.newBuilder().setJobId(job.jobId).setCancelled(true)
                .setReason("job failed: " + error).build()));
        emit(job, JobEvent.newBuilder().setFinished(JobFinished.newBuilder().setState(JobState.FAILED).setError(error)), out);
        LOG.errorf("job %s: failed: %s", job.jobId, error);
    }

    private Outbound evalTask(JobRecord job, int si, String name, String method, String manifest) {
        return new Outbound(Topics.EVAL_TASKS, job.jobId, EvalTask.newBuilder().setJobId(job.jobId).setStageIndex(si)
                .setStageName(name).setMethod(method).setManifest(manifest).setSourceManifest(job.sourceManifest)
                .setSpec(job.recipe.getEvaluate()).build());
    }

    /** Numbers the event, applies it to the job (the fold), queues it for the log and tells the watchers. */
    private void emit(JobRecord job, JobEvent.Builder b, List<Outbound> out) {
        JobEvent e = b.setJobId(job.jobId).setSeq(job.lastSeq + 1).setAtMs(clock.getAsLong()).build();
        job.apply(e);
        out.add(new Outbound(Topics.JOB_EVENTS, job.jobId, e));
        List<Watcher> ws = watchers.get(job.jobId);
        if (ws == null) return;
        for (Watcher w : List.copyOf(ws)) w.event(e);
        if (job.finished()) {
            watchers.remove(job.jobId);
            for (Watcher w : ws) w.end();
        }
    }
}
