package io.shardwise.gateway;

import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.StageStatus;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One job's state, folded from its {@link JobEvent}s only ({@link #apply}), so replaying the job log
 * rebuilds exactly the state the live gateway had.
 */
final class JobRecord {
    final String jobId;
    String modelUri = "";
    Recipe recipe = Recipe.getDefaultInstance();
    String sourceManifest = "";
    List<StagePlan> stagePlans = List.of();
    JobState state = JobState.JOB_STATE_UNSPECIFIED;
    long submittedAtMs;
    long lastSeq;
    String error = "";
    String outputPath = "";
    String finalManifest = "";
    int currentStage = -1;
    final List<StageRun> stages = new ArrayList<>();
    final List<ModelScored> scores = new ArrayList<>();
    /** (stage index, metric, dataset) of every score seen: a redelivered score is dropped. */
    final Set<String> scoreKeys = new HashSet<>();
    /** Stage indexes (-1 = source) whose evaluation the evaluator finished. */
    final Set<Integer> evaluated = new HashSet<>();
    final List<JobEvent> events = new ArrayList<>();

    /** One stage as it runs: its input, its plan shard's result, the shards done so far (in arrival order) and its output. */
    static final class StageRun {
        final int index;
        String inputManifest = "";
        int shardCount;
        /** The plan shard's ShardDone (not one of the stage's shards: it adds no tensors and is not counted). */
        ShardDone planDone;
        final Map<String, ShardDone> done = new LinkedHashMap<>();
        boolean completed;
        String outputManifest = "";
        Map<String, Double> stats = Map.of();
        List<String> notes = List.of();

        StageRun(int index) {
            this.index = index;
        }

        /** The plan's blob digest for the stage's tasks, "" before the plan shard is done (or without one). */
        String planDigest() {
            return planDone == null ? "" : planDone.getPlan();
        }

        /** The shard's ShardDone was recorded already. */
        boolean isDone(String shardId, boolean planShard) {
            return planShard ? planDone != null : done.containsKey(shardId);
        }
    }

    JobRecord(String jobId) {
        this.jobId = jobId;
    }

    boolean finished() {
        return state == JobState.SUCCEEDED || state == JobState.FAILED || state == JobState.CANCELLED;
    }

    StageRun stage(int index) {
        while (stages.size() <= index) stages.add(new StageRun(stages.size()));
        return stages.get(index);
    }

    StagePlan plan(int stageIndex) {
        return stagePlans.get(stageIndex);
    }

    /** A shard of the stage's plan, its plan shard included; null when it is neither. */
    ShardRef shard(int stageIndex, String shardId) {
        if (stageIndex < 0 || stageIndex >= stagePlans.size()) return null;
        for (ShardRef s : stagePlans.get(stageIndex).getShardsList()) if (s.getShardId().equals(shardId)) return s;
        return isPlanShard(stageIndex, shardId) ? stagePlans.get(stageIndex).getPlanShard() : null;
    }

    boolean isPlanShard(int stageIndex, String shardId) {
        if (stageIndex < 0 || stageIndex >= stagePlans.size()) return false;
        StagePlan p = stagePlans.get(stageIndex);
        return p.hasPlanShard() && p.getPlanShard().getShardId().equals(shardId);
    }

    int stageCount() {
        return recipe.getStagesCount();
    }

    boolean lastStageCompleted() {
        int n = stageCount();
        return n > 0 && stages.size() == n && stages.get(n - 1).completed;
    }

    /** Source (-1) and every stage have been evaluated. */
    boolean allEvaluated() {
        for (int i = -1; i < stageCount(); i++) if (!evaluated.contains(i)) return false;
        return true;
    }

    /** A redelivered score has the same key; a KV-cache score (kv_cache int8/int4) is another score than the f32 one. */
    static String scoreKey(ModelScored s) {
        return s.getStageIndex() + "|" + s.getMetric() + "|" + s.getDataset() + (s.getKvCache().isEmpty() ? "" : "|kv " + s.getKvCache());
    }

    /** The fold: every job state change is one of these events. */
    void apply(JobEvent e) {
        events.add(e);
        lastSeq = e.getSeq();
        switch (e.getKindCase()) {
            case SUBMITTED -> {
                var s = e.getSubmitted();
                modelUri = s.getModelUri();
                recipe = s.getRecipe();
                sourceManifest = s.getSourceManifest();
                stagePlans = List.copyOf(s.getStagePlansList());
                submittedAtMs = e.getAtMs();
                state = JobState.QUEUED;
            }
            case STAGE_STARTED -> {
                var s = e.getStageStarted();
                StageRun r = stage(s.getStageIndex());
                r.inputManifest = s.getInputManifest();
                r.shardCount = s.getShardCount();
                currentStage = s.getStageIndex();
                state = JobState.RUNNING;
            }
            case SHARD_COMPLETED -> {
                var s = e.getShardCompleted();
                if (isPlanShard(s.getStageIndex(), s.getShardId())) stage(s.getStageIndex()).planDone = s.getDone();
                else stage(s.getStageIndex()).done.put(s.getShardId(), s.getDone());
            }
            case STAGE_COMPLETED -> {
                var s = e.getStageCompleted();
                StageRun r = stage(s.getStageIndex());
                r.completed = true;
                r.outputManifest = s.getOutputManifest();
                r.stats = Map.copyOf(s.getStatsMap());
                r.notes = List.copyOf(s.getNotesList());
                if (lastStageCompleted()) state = JobState.EVALUATING;
            }
            case SCORED -> {
                ModelScored s = e.getScored();
                scoreKeys.add(scoreKey(s));
                if (ScoreMarkers.isEvalDone(s)) evaluated.add(s.getStageIndex());
                else scores.add(s);
            }
            case FINISHED -> {
                var f = e.getFinished();
                state = f.getState();
                error = f.getError();
                outputPath = f.getOutputPath();
                finalManifest = f.getFinalManifest();
            }
            case SHARD_PROGRESSED, KIND_NOT_SET -> { }
        }
    }

    Job toProto() {
        Job.Builder b = Job.newBuilder().setJobId(jobId).setState(state).setModelUri(modelUri).setRecipe(recipe)
                .setSourceManifest(sourceManifest).addAllScores(scores).setError(error).setOutputPath(outputPath)
                .setSubmittedAtMs(submittedAtMs).setLastSeq(lastSeq);
        for (int i = 0; i < stageCount(); i++) {
            var spec = recipe.getStages(i);
            StageStatus.Builder st = StageStatus.newBuilder().setIndex(i).setName(spec.getName()).setMethod(spec.getMethod())
                    .setShardCount(i < stagePlans.size() ? stagePlans.get(i).getShardsCount() : 0);
            if (i < stages.size()) {
                StageRun r = stages.get(i);
                st.setShardsDone(r.done.size()).setOutputManifest(r.outputManifest).setCompleted(r.completed)
                        .putAllStats(r.stats).addAllNotes(r.notes);
            }
            b.addStages(st);
        }
        return b.build();
    }
}
