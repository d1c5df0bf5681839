package io.shardwise.cli;

import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobFinished;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.StageCompleted;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * One job submitted to a gateway and watched to its end: every event in order, the final job as
 * GetJob reports it, and the wall time from submit to finish.
 */
public record ChainRun(Job job, List<JobEvent> events, Duration elapsed) {

    /** Submits {@code recipeYaml} for {@code modelUri} and blocks until the job finishes, passing each event to {@code sink}. */
    public static ChainRun run(JobClient client, String modelUri, String recipeYaml, Consumer<JobEvent> sink) {
        long t0 = System.nanoTime();
        Job submitted = client.submit(modelUri, recipeYaml);
        return follow(client, submitted.getJobId(), t0, sink);
    }

    /** Watches an already submitted job to its end. */
    public static ChainRun follow(JobClient client, String jobId, long startNanos, Consumer<JobEvent> sink) {
        List<JobEvent> events = new ArrayList<>();
        JobEvent last = client.watch(jobId, 0, e -> {
            events.add(e);
            sink.accept(e);
        });
        if (last == null || !last.hasFinished()) {
            throw new IllegalStateException("the event stream of job " + jobId + " ended before the job finished"
                    + (last == null ? "" : " (last event #" + last.getSeq() + ")"));
        }
        return new ChainRun(client.get(jobId), List.copyOf(events), Duration.ofNanos(System.nanoTime() - startNanos));
    }

    public String jobId() {
        return job.getJobId();
    }

    public JobFinished finished() {
        return events.getLast().getFinished();
    }

    public boolean succeeded() {
        return finished().getState() == JobState.SUCCEEDED;
    }

    public Recipe recipe() {
        return job.getRecipe();
    }

    /** Scores from the event stream (what a watcher sees), in arrival order. */
    public List<ModelScored> scores() {
        return events.stream().filter(JobEvent::hasScored).map(JobEvent::getScored).filter(JobFormat::shown).toList();
    }

    /** The score taken with the float32 KV cache (never an evaluate.kv_cache one). */
    public Optional<ModelScored> score(int stageIndex, String metric, String dataset) {
        return scores().stream().filter(s -> s.getStageIndex() == stageIndex && s.getMetric().equals(metric)
                && (dataset == null || s.getDataset().equals(dataset)) && s.getKvCache().isEmpty()).findFirst();
    }

    public Optional<StageCompleted> stageCompleted(int stageIndex) {
        return events.stream().filter(JobEvent::hasStageCompleted).map(JobEvent::getStageCompleted)
                .filter(s -> s.getStageIndex() == stageIndex).findFirst();
    }

    public ScoreTable table() {
        ScoreTable t = new ScoreTable(recipe());
        scores().forEach(t::add);
        return t;
    }
}
