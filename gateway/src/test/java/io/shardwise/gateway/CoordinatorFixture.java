package io.shardwise.gateway;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.work.Topics;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.StageTask;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real blob store with a tiny imported model, a coordinator over it, and a stand-in for the
 * services: it answers a StageTask the way a technique would (zeroing small weights, or re-encoding
 * to F16), storing real tensors and returning a real ShardDone.
 */
final class CoordinatorFixture {
    static final String RECIPE = """
            stages:
              - prune: { method: magnitude, sparsity: 0.5 }
              - distill: { method: kd, steps: 2 }
              - quantize: { method: rtn, type: F16 }
            evaluate: { suites: [tinystories] }
            """;

    final ModelStore store;
    final Path outputDir;
    final AtomicLong clock = new AtomicLong(1_000);
    final JobCoordinator coordinator;
    final String source;
    final List<ShardRef> plan;
    final List<String> tensorNames;

    CoordinatorFixture(Path tmp) throws Exception {
        store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        outputDir = tmp.resolve("out");
        coordinator = newCoordinator();
        Path file = TinyModelFiles.write(tmp.resolve("models"), "tiny.bin", 42);
        try (Arena arena = Arena.ofShared()) {
            LlamaModel m = ModelFiles.open(file, arena);
            source = store.importModel(m, file.toUri().toString(), "tiny.bin");
            tensorNames = List.copyOf(m.tensors().keySet());
        }
        plan = ShardPlanner.perBlock(tensorNames);
    }

    JobCoordinator newCoordinator() {
        return new JobCoordinator(new BlobStageOutputs(store, outputDir), () -> clock.incrementAndGet());
    }

    SubmitPlan submitPlan(String jobId) throws Exception {
        Recipe recipe = RecipeParser.parse(RECIPE).toProto();
        List<StagePlan> stagePlans = new ArrayList<>();
        for (int i = 0; i < recipe.getStagesCount(); i++) {
            boolean whole = i == 1;
            stagePlans.add(StagePlan.newBuilder().setStageIndex(i).setWholeModel(whole)
                    .addAllShards(whole ? ShardPlanner.wholeModel(tensorNames) : plan).build());
        }
        return new SubmitPlan(jobId, "file:/models/tiny.bin", recipe, source, plan, stagePlans);
    }

    /** What a service would publish for this task. */
    ShardEvent answer(StageTask task) throws Exception {
        return ShardAnswers.answer(store, task);
    }

    static List<StageTask> tasks(List<Outbound> out) {
        return out.stream().filter(o -> o.message() instanceof StageTask).map(o -> (StageTask) o.message()).toList();
    }

    static List<JobEvent> events(List<Outbound> out) {
        return out.stream().filter(o -> o.topic() == Topics.JOB_EVENTS).map(o -> (JobEvent) o.message()).toList();
    }

    static ModelScored score(String job, int stage, String metric, String dataset, double value) {
        return ModelScored.newBuilder().setJobId(job).setStageIndex(stage).setMetric(metric).setDataset(dataset)
                .setValue(value).setProtocol("ppl-v1").build();
    }
}
