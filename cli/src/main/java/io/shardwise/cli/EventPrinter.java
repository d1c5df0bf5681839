package io.shardwise.cli;

import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.ShardCompleted;
import io.shardwise.proto.v1.StageSpec;

import java.util.Locale;

/**
 * Renders a job's event stream as progress lines, per stage and per shard. Stateful: it learns the
 * stage names from the job's {@code JobSubmitted} event (or {@link #recipe(Recipe)}).
 */
public final class EventPrinter {
    private Recipe recipe = Recipe.getDefaultInstance();

    public EventPrinter recipe(Recipe r) {
        this.recipe = r;
        return this;
    }

    /** The line for one event, or null for events people need not see. */
    public String line(JobEvent e) {
        return switch (e.getKindCase()) {
            case SUBMITTED -> {
                recipe = e.getSubmitted().getRecipe();
                yield String.format(Locale.ROOT, "job %s submitted: %s, %d stage(s), %d shards, source %s", e.getJobId(),
                        e.getSubmitted().getModelUri(), recipe.getStagesCount(), e.getSubmitted().getPlanCount(),
                        JobFormat.shortDigest(e.getSubmitted().getSourceManifest()));
            }
            case STAGE_STARTED -> String.format(Locale.ROOT, "%s: started, %d shard(s) from %s",
                    stage(e.getStageStarted().getStageIndex()), e.getStageStarted().getShardCount(),
                    JobFormat.shortDigest(e.getStageStarted().getInputManifest()));
            case SHARD_COMPLETED -> shard(e.getShardCompleted());
            case SHARD_PROGRESSED -> String.format(Locale.ROOT, "%s: shard %s %3.0f%% %s",
                    stage(e.getShardProgressed().getStageIndex()), e.getShardProgressed().getShardId(),
                    100 * e.getShardProgressed().getFraction(), e.getShardProgressed().getMessage()).stripTrailing();
            case STAGE_COMPLETED -> {
                String stats = JobFormat.stats(e.getStageCompleted().getStatsMap());
                StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%s: done -> %s%s",
                        stage(e.getStageCompleted().getStageIndex()), JobFormat.shortDigest(e.getStageCompleted().getOutputManifest()),
                        stats.isEmpty() ? "" : "  " + stats));
                for (String n : e.getStageCompleted().getNotesList()) b.append("\n    note: ").append(n);
                yield b.toString();
            }
            case SCORED -> JobFormat.shown(e.getScored()) ? "score: " + JobFormat.score(e.getScored()) : null;
            case FINISHED -> String.format(Locale.ROOT, "job %s %s%s%s", e.getJobId(), JobFormat.stateName(e.getFinished().getState()),
                    e.getFinished().getError().isEmpty() ? "" : ": " + e.getFinished().getError(),
                    e.getFinished().getOutputPath().isEmpty() ? "" : ", wrote " + e.getFinished().getOutputPath());
            case KIND_NOT_SET -> null;
        };
    }

    private String shard(ShardCompleted c) {
        String stats = JobFormat.stats(c.getDone().getStatsMap());
        return String.format(Locale.ROOT, "%s: shard %-8s done (%d/%d) %d ms%s", stage(c.getStageIndex()), c.getShardId(),
                c.getDoneCount(), c.getShardCount(), c.getDone().getMillis(), stats.isEmpty() ? "" : "  " + stats);
    }

    /** "stage 1 distill/kd" from the recipe, or "stage 1" when the recipe is not known yet. */
    public String stage(int index) {
        if (index < 0) return "source";
        if (index < recipe.getStagesCount()) {
            StageSpec s = recipe.getStages(index);
            return "stage " + index + " " + s.getName() + "/" + s.getMethod();
        }
        return "stage " + index;
    }
}
