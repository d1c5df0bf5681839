package io.shardwise.cli;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.recipe.Recipe;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The same job without Kafka: the recipe's stages run one shard after another in this JVM by calling
 * the services' technique classes, outputs go through the same blob store and manifests, every model
 * is scored with the same perplexity protocol. It exists to measure what the distributed path costs.
 */
final class InProcessChain {
    record Result(ScoreTable table, List<String> scoredLines, String outputPath, double seconds, String finalManifest) {
    }

    private final Path blobRoot;
    private final Path outputDir;
    private final RepoLayout layout;
    private final Consumer<String> log;

    InProcessChain(Path blobRoot, Path outputDir, RepoLayout layout, Consumer<String> log) {
        this.blobRoot = blobRoot;
        this.outputDir = outputDir;
        this.layout = layout;
        this.log = log;
    }

    Result run(Path modelFile, String yaml) throws Exception {
        long t0 = System.nanoTime();
        Recipe recipe = RecipeParser.parse(yaml);
        io.shardwise.proto.v1.Recipe proto = recipe.toProto();
        InProcessTechniques techniques = new InProcessTechniques(layout.shared().map(sh -> sh.resolve("data")),
                List.of(modelFile.toAbsolutePath().getParent()));
        ModelStore store = new ModelStore(new FileBlobStore(blobRoot));
        String jobId = "inprocess-" + Long.toString(System.currentTimeMillis(), 36);
        ScoreTable table = new ScoreTable(proto);
        List<String> lines = new ArrayList<>();
        Consumer<ModelScored> scored = s -> {
            table.add(s);
            lines.add(Json.scored(s));
            log.accept("score: " + JobFormat.score(s));
        };
        String source;
        try (Arena arena = Arena.ofShared()) { // shared: the runtime reads weights from its worker threads
            LlamaModel m = ModelFiles.open(modelFile, arena);
            source = store.importModel(m, "file:" + modelFile, modelFile.getFileName().toString());
        }
        log.accept("in-process job " + jobId + ": source " + JobFormat.shortDigest(source));
        Scoring scoring = new Scoring(store, recipe.evaluate(), jobId, source, layout);
        scoring.score(source, -1, "source", "", scored);
        String input = source;
        for (StageSpec stage : proto.getStagesList()) {
            ShardTechnique t = techniques.find(stage.getKind(), stage.getMethod()).orElseThrow(() -> new IllegalArgumentException(
                    "stages[" + stage.getIndex() + "]: no " + stage.getKind() + " technique '" + stage.getMethod() + "' on the classpath (known: "
                            + String.join(", ", techniques.methods(stage.getKind())) + ")"));
            input = runStage(store, jobId, stage, t, input, source);
            scoring.score(input, stage.getIndex(), stage.getName(), stage.getMethod(), scored);
        }
        Files.createDirectories(outputDir);
        Path out = outputDir.resolve(jobId + ".gguf");
        String type = recipe.output().type();
        ModelFiles.write(store.load(input), out, new GgufLlama.WriteOptions(jobId, type.isEmpty() ? null : GgmlType.valueOf(type)));
        return new Result(table, lines, out.toString(), (System.nanoTime() - t0) / 1e9, input);
    }

    private String runStage(ModelStore store, String jobId, StageSpec stage, ShardTechnique t, String input, String source) throws Exception {
        ModelManifest in = store.manifest(input);
        ModelManifest src = store.manifest(source);
        List<String> names = in.getTensorsList().stream().map(TensorEntry::getName).toList();
        List<ShardRef> plan = t.wholeModel() ? List.of(shard("model", 0, names)) : perBlock(names);
        List<TensorEntry> replaced = new ArrayList<>();
        Map<String, Double> stats = new TreeMap<>();
        String label = "stage " + stage.getIndex() + " " + stage.getName() + "/" + stage.getMethod();
        for (ShardRef shard : plan) {
            long s0 = System.nanoTime();
            Map<String, Tensor> tensors = store.tensors(in, shard.getTensorsList());
            ShardInput si = new ShardInput(jobId, stage, shard, tensors, in, input, src, source, store, ShardInput.Progress.NONE);
            ShardOutput so = t.apply(si);
            if (!so.tensors().isEmpty()) replaced.addAll(store.storeTensors(so.tensors().values()));
            so.stats().forEach((k, v) -> stats.merge(k, v, Double::sum));
            so.notes().forEach(n -> log.accept(label + ": note: " + n));
            log.accept(String.format(Locale.ROOT, "%s: shard %-8s done %d ms", label, shard.getShardId(), (System.nanoTime() - s0) / 1_000_000));
        }
        String out = store.derive(input, stage, replaced);
        log.accept(label + ": done -> " + JobFormat.shortDigest(out) + (stats.isEmpty() ? "" : "  " + JobFormat.stats(stats)));
        return out;
    }

    /** The gateway's plan: embed, block.N in order, head (DESIGN.md, shards). */
    static List<ShardRef> perBlock(List<String> names) {
        List<String> embed = new ArrayList<>(), head = new ArrayList<>();
        Map<Integer, List<String>> blocks = new TreeMap<>();
        for (String n : names) {
            int b = TensorNames.blockOf(n);
            if (b >= 0) blocks.computeIfAbsent(b, k -> new ArrayList<>()).add(n);
            else if (n.equals(TensorNames.TOKEN_EMBD)) embed.add(n);
            else head.add(n);
        }
        List<ShardRef> out = new ArrayList<>();
        if (!embed.isEmpty()) out.add(shard("embed", out.size(), embed));
        for (var b : blocks.entrySet()) out.add(shard("block." + b.getKey(), out.size(), b.getValue()));
        if (!head.isEmpty()) out.add(shard("head", out.size(), head));
        return out;
    }

    private static ShardRef shard(String id, int index, List<String> tensors) {
        return ShardRef.newBuilder().setShardId(id).setIndex(index).addAllTensors(tensors.stream().sorted().toList()).build();
    }

    /** Perplexity per suite (pinned protocol) and size metrics of one model, as ModelScored values. */
    private record Scoring(ModelStore store, Recipe.Evaluate evaluate, String jobId, String source, RepoLayout layout) {
        void score(String digest, int stageIndex, String stage, String method, Consumer<ModelScored> sink) throws IOException {
            ModelManifest m = store.manifest(digest);
            LlamaModel model = store.load(digest);
            long params = 0, nonzero = 0;
            for (Tensor t : model.tensors().values()) {
                params += t.elements();
                for (float v : t.toFloats()) if (v != 0f) nonzero++;
            }
            long bytes = ModelStore.tensorBytes(m);
            ModelScored.Builder b = ModelScored.newBuilder().setJobId(jobId).setStageIndex(stageIndex).setStageName(stage)
                    .setMethod(method).setManifest(digest).setBaselineValue(Double.NaN).setProtocol(Perplexity.PROTOCOL);
            sink.accept(b.clone().setMetric("params").setValue(params).build());
            sink.accept(b.clone().setMetric("nonzero_params").setValue(nonzero).build());
            sink.accept(b.clone().setMetric("sparsity").setValue(1 - (double) nonzero / params).build());
            sink.accept(b.clone().setMetric("bytes").setValue(bytes).build());
            sink.accept(b.clone().setMetric("bpw").setValue(8.0 * bytes / params).build());
            for (String suite : evaluate.suites()) {
                PerplexityResult r = Perplexity.evaluateFile(model, DatasetPaths.resolve(suite, layout), evaluate.maxTokens());
                sink.accept(b.clone().setMetric("nll").setDataset(suite).setValue(r.meanNll()).setTokens(r.tokens()).build());
                sink.accept(b.clone().setMetric("ppl").setDataset(suite).setValue(r.ppl()).setTokens(r.tokens()).build());
            }
        }
    }
}
