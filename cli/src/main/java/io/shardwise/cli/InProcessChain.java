package io.shardwise.cli;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.recipe.Recipe;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.runtime.KvCacheType;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;
import io.shardwise.proto.v1.Technique;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The same job without Kafka: the recipe's stages run one shard after another in this JVM by calling
 * the services' technique classes, outputs go through the same blob store and manifests, every model
 * is scored with the same perplexity protocol. It exists to measure what the distributed path costs.
 * As the gateway plans them: a stage that sets a {@code needs_plan} parameter runs its plan shard first and hands
 * its plan to every shard; a sequential stage ({@code calib_mode}) runs its blocks in order, each reading the
 * output activations of the block before it, and the head reads the last block's.
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
                            + String.join(", ", techniques.methods(stage.getKind())) + ")"
                            + (techniques.skipped().isEmpty() ? "" : "; not loadable here: " + techniques.skipped())));
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
        List<String> removed = new ArrayList<>();
        Map<String, Double> stats = new TreeMap<>();
        String label = "stage " + stage.getIndex() + " " + stage.getName() + "/" + stage.getMethod();
        Map<String, String> params = effectiveParams(t.describe(), stage.getParamsMap());
        // the gateway's rules: a needs_plan parameter set -> a plan shard first; calib_mode sequential -> blocks in order, each on the last one's outputs
        String planDigest = "";
        if (t.describe().getParamsList().stream().anyMatch(p -> p.getNeedsPlan() && stage.getParamsMap().containsKey(p.getName()))) {
            ShardOutput so = runShard(store, jobId, stage, t, in, input, src, source, shard("plan", plan.size(), names.stream().sorted().toList()), "", "", label).output();
            if (so.plan().isEmpty()) throw new IllegalStateException(label + ": the plan shard finished without a plan");
            planDigest = so.plan();
            so.notes().forEach(n -> log.accept(label + ": note: " + n));
        }
        boolean sequential = !t.wholeModel() && CalibrationMode.SEQUENTIAL.key().equalsIgnoreCase(params.getOrDefault(CalibrationSpec.MODE, "").trim());
        String activations = "";
        for (ShardRef shard : plan) {
            boolean chained = sequential && (shard.getShardId().startsWith("block.") || shard.getShardId().equals("head"));
            Done d = runShard(store, jobId, stage, t, in, input, src, source, shard, chained ? activations : "", planDigest, label);
            ShardOutput so = d.output();
            if (chained && shard.getShardId().startsWith("block.")) {
                if (so.activations().isEmpty()) throw new IllegalStateException(label + ": shard " + shard.getShardId()
                        + " returned no output activations, which sequential calibration hands to the next block");
                activations = so.activations();
            }
            replaced.addAll(d.stored());
            removed.addAll(so.removed());
            so.stats().forEach((k, v) -> stats.merge(k, v, Double::sum));
            so.notes().forEach(n -> log.accept(label + ": note: " + n));
        }
        String out = store.derive(input, stage, replaced, removed);
        log.accept(label + ": done -> " + JobFormat.shortDigest(out) + (sequential ? "  (sequential)" : "") + (stats.isEmpty() ? "" : "  " + JobFormat.stats(stats)));
        return out;
    }

    /** What one shard task made, its tensors already in the blob store (the task's arena is closed). */
    private record Done(ShardOutput output, List<TensorEntry> stored) {
    }

    /** One shard as a service runs it: its tensors mapped in an arena of its own, outputs stored before the arena closes. */
    private Done runShard(ModelStore store, String jobId, StageSpec stage, ShardTechnique t, ModelManifest in, String input,
                                 ModelManifest src, String source, ShardRef shard, String activations, String planDigest, String label) throws Exception {
        long s0 = System.nanoTime();
        ShardOutput so;
        List<TensorEntry> stored;
        try (Arena arena = Arena.ofShared()) { // shared: the runtime reads weights from its worker threads
            Map<String, Tensor> tensors = store.tensors(in, shard.getTensorsList(), arena);
            ShardInput si = new ShardInput(jobId, stage, shard, tensors, in, input, src, source, store, ShardInput.Progress.NONE, arena,
                    activations, planDigest);
            so = t.apply(si);
            for (String name : so.removed()) { // as the service runner: a shard removes only its own tensors
                if (!shard.getTensorsList().contains(name)) throw new IllegalStateException(label + ": shard " + shard.getShardId() + " removed tensor " + name + ", not one of its own");
            }
            stored = so.tensors().isEmpty() ? List.of() : store.storeTensors(so.tensors().values());
        }
        log.accept(String.format(Locale.ROOT, "%s: shard %-8s done %d ms", label, shard.getShardId(), (System.nanoTime() - s0) / 1_000_000));
        return new Done(so, stored);
    }

    /** The stage's parameters over the technique's defaults, as the gateway plans with them. */
    static Map<String, String> effectiveParams(Technique technique, Map<String, String> given) {
        Map<String, String> m = new LinkedHashMap<>();
        for (ParamSpec p : technique.getParamsList()) if (!p.getDefaultValue().isEmpty()) m.put(p.getName(), p.getDefaultValue());
        m.putAll(given);
        return m;
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
                for (String kv : evaluate.kvCache()) { // as the evaluator: again with a quantized KV cache, against this model's f32 value
                    PerplexityResult q = Perplexity.evaluateFile(model, DatasetPaths.resolve(suite, layout), evaluate.maxTokens(), KvCacheType.parse(kv));
                    ModelScored.Builder k = b.clone().setKvCache(kv).setDataset(suite).setTokens(q.tokens());
                    sink.accept(k.clone().setMetric("nll").setValue(q.meanNll()).setBaselineValue(r.meanNll()).build());
                    sink.accept(k.clone().setMetric("ppl").setValue(q.ppl()).setBaselineValue(r.ppl()).build());
                }
            }
        }
    }
}
