package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.recipe.Recipe;
import io.shardwise.core.recipe.RecipeException;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.recipe.RecipeStage;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.train.DemoModel;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.SubmitJobRequest;
import io.shardwise.proto.v1.Technique;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Checks a submitted job in full before anything is queued (recipe shape, methods and parameters
 * against the live capabilities, model path against the roots, the model file itself, group and block sizes
 * against the model's rows, calibration texts against what the stage needs, a pre-flight memory plan), then
 * imports the model into the blob store and plans each stage's shards (sequential blocks, a plan shard).
 */
public final class JobIntake {
    private static final Logger LOG = Logger.getLogger(JobIntake.class);

    private final CapabilityRegistry capabilities;
    private final ModelRoots roots;
    private final ModelStore store;
    private final Path outputDir;
    private final long calibrationMargin;
    private final CalibrationCheck calibration;

    public JobIntake(CapabilityRegistry capabilities, ModelRoots roots, ModelStore store, Path outputDir, long calibrationMargin) {
        this(capabilities, roots, store, outputDir, calibrationMargin, Optional.empty(), DemoModel.defaultCacheDir());
    }

    /**
     * @param dataDir   shared/data, where the built-in calibration dataset names live (absent: those are not checked)
     * @param demoCache the demo model's cache: its texts are checked only when it is already there
     */
    public JobIntake(CapabilityRegistry capabilities, ModelRoots roots, ModelStore store, Path outputDir, long calibrationMargin,
                     Optional<Path> dataDir, Path demoCache) {
        this.capabilities = capabilities;
        this.roots = roots;
        this.store = store;
        this.outputDir = outputDir.toAbsolutePath().normalize();
        this.calibrationMargin = calibrationMargin;
        this.calibration = new CalibrationCheck(dataDir, roots, demoCache);
    }

    public SubmitPlan prepare(String jobId, SubmitJobRequest req) throws JobRejected {
        Recipe recipe;
        try {
            recipe = RecipeParser.parse(req.getRecipeYaml());
        } catch (RecipeException e) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, "recipe_yaml: " + e.getMessage());
        }
        List<CapabilityRegistry.Offer> offers = new ArrayList<>();
        for (int i = 0; i < recipe.stages().size(); i++) offers.add(checkStage(i, recipe.stages().get(i)));

        String modelUri = !req.getModelUri().isBlank() ? req.getModelUri() : recipe.model();
        if (modelUri.isBlank()) throw new JobRejected(Status.Code.INVALID_ARGUMENT, "model_uri: missing (give model_uri or the recipe's model:)");
        Path modelFile = roots.resolve(modelUri, "model_uri");
        for (int i = 0; i < recipe.evaluate().suites().size(); i++) {
            String s = recipe.evaluate().suites().get(i);
            if (s.startsWith("file:") || s.startsWith("/")) roots.resolve(s, "recipe_yaml: evaluate.suites[" + i + "]");
        }
        checkOutputPath(recipe.output().path());

        try (Arena arena = Arena.ofShared()) {
            LlamaModel model;
            try {
                model = ModelFiles.open(modelFile, arena);
            } catch (ModelFormatException e) {
                throw new JobRejected(Status.Code.FAILED_PRECONDITION, "model_uri: " + e.getMessage());
            } catch (IOException | RuntimeException e) {
                // a corrupt file can also trip a reader's own checks (bounds, sizes): still the file's fault
                throw new JobRejected(Status.Code.FAILED_PRECONDITION, "model_uri: " + modelFile + " cannot be read: " + e.getMessage());
            }
            Map<String, Long> sizes = new LinkedHashMap<>();
            List<RowFit.Matrix> matrices = new ArrayList<>();
            List<RankFit.Matrix> blockMatrices = new ArrayList<>();
            for (Tensor t : model.tensors().values()) {
                sizes.put(t.name(), t.data().byteSize());
                if (t.shape().length == 2) matrices.add(new RowFit.Matrix(t.name(), t.cols()));
                if (t.shape().length == 2 && RankFit.Matrix.factorized(t.name())) blockMatrices.add(new RankFit.Matrix(t.name(), t.rows(), t.cols()));
            }
            matrices.sort(java.util.Comparator.comparing(RowFit.Matrix::name));
            List<ShardRef> sourcePlan = ShardPlanner.perBlock(sizes.keySet());
            List<StagePlan> stagePlans = new ArrayList<>();
            Map<String, Long> stageSizes = sizes; // after a layer-removal stage: fewer blocks, renumbered
            int blocks = model.config().nLayers();
            LlamaConfig shapes = model.config(); // after structured pruning stages: fewer heads or MLP channels
            for (int i = 0; i < recipe.stages().size(); i++) {
                RecipeStage stage = recipe.stages().get(i);
                Map<String, ParamSpec> specs = specs(offers.get(i).technique());
                String at = "recipe_yaml: stages[" + i + "]." + stage.key();
                RowFit.check(at, stage.params(), specs, matrices);
                RankFit.check(at, stage.params(), specs, blockMatrices);
                LlamaConfig after = StructuredRatio.check(at, stage, specs, shapes);
                if (!after.equals(shapes)) { // later stages see the narrower matrices the stage leaves
                    matrices = StructuredRatio.rowLengths(matrices, after);
                    blockMatrices = StructuredRatio.blockShapes(blockMatrices, after);
                    shapes = after;
                }
                int removed = LayerCount.check(at, stage.params(), specs, blocks);
                if (specs.containsKey(CalibrationSpec.DATASET)) calibration.check(at, effective(stage.params(), specs), model);
                stagePlans.add(planStage(i, stage, offers.get(i), stageSizes, stageSizes == sizes ? sourcePlan : ShardPlanner.perBlock(stageSizes.keySet())));
                if (removed > 0) {
                    stageSizes = LayerCount.afterRemoval(at, stageSizes, blocks, removed);
                    blocks -= removed;
                }
            }
            String source;
            try {
                source = store.importModel(model, modelFile.toUri().toString(), modelFile.getFileName().toString());
            } catch (IOException e) {
                throw new JobRejected(Status.Code.INTERNAL, "model_uri: importing " + modelFile + " into the blob store failed: " + e.getMessage());
            }
            LOG.infof("job %s: imported %s as %s", jobId, modelFile, source);
            return new SubmitPlan(jobId, modelUri, recipe.toProto(), source, sourcePlan, stagePlans);
        }
    }

    private CapabilityRegistry.Offer checkStage(int i, RecipeStage stage) throws JobRejected {
        String at = "recipe_yaml: stages[" + i + "]." + stage.key();
        List<String> known = capabilities.methods(stage.kind());
        if (known.isEmpty()) {
            throw new JobRejected(Status.Code.FAILED_PRECONDITION, at + ": no running service offers " + stage.key()
                    + " methods (services seen: " + capabilities.all().stream().map(c -> c.getService()).toList() + ")");
        }
        var offer = capabilities.find(stage.kind(), stage.method()).orElseThrow(() -> new JobRejected(Status.Code.INVALID_ARGUMENT,
                at + ".method: unknown method '" + stage.method() + "' for " + stage.key() + " (known: " + String.join(", ", known) + ")"));
        Map<String, ParamSpec> specs = specs(offer.technique());
        for (var e : stage.params().entrySet()) {
            ParamSpec spec = specs.get(e.getKey());
            String field = at + "." + e.getKey();
            if (spec == null) throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": unknown parameter of "
                    + stage.method() + " (known: " + String.join(", ", specs.keySet()) + ")");
            checkValue(field, e.getValue(), spec);
            // a parameter naming a file (e.g. kd's dataset) is read by a service: same roots as the model
            if (e.getValue().startsWith("file:") || e.getValue().startsWith("/")) roots.resolve(e.getValue(), field);
        }
        for (ParamSpec p : specs.values()) {
            if (p.getRequired() && p.getDefaultValue().isEmpty() && !stage.params().containsKey(p.getName())) {
                throw new JobRejected(Status.Code.INVALID_ARGUMENT, at + "." + p.getName() + ": missing (required by " + stage.method() + ")");
            }
        }
        return offer;
    }

    private static Map<String, ParamSpec> specs(Technique t) {
        Map<String, ParamSpec> specs = new LinkedHashMap<>();
        for (ParamSpec p : t.getParamsList()) specs.put(p.getName(), p);
        return specs;
    }

    /** The stage's parameters over the technique's defaults (what a service will run with). */
    static Map<String, String> effective(Map<String, String> given, Map<String, ParamSpec> specs) {
        Map<String, String> m = new LinkedHashMap<>();
        for (ParamSpec p : specs.values()) if (!p.getDefaultValue().isEmpty()) m.put(p.getName(), p.getDefaultValue());
        m.putAll(given);
        return m;
    }

    private static void checkValue(String field, String value, ParamSpec spec) throws JobRejected {
        if (spec.getAllowedCount() > 0 && !spec.getAllowedList().contains(value)) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": '" + value + "' is not one of " + String.join(", ", spec.getAllowedList()));
        }
        if (spec.getMin() < spec.getMax()) {
            double v;
            try {
                v = Double.parseDouble(value);
            } catch (NumberFormatException ex) {
                throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": '" + value + "' is not a number");
            }
            if (!(v >= spec.getMin() && v <= spec.getMax())) {
                throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": " + value + " is outside [" + num(spec.getMin()) + ", " + num(spec.getMax()) + "]");
            }
        }
    }

    private StagePlan planStage(int i, RecipeStage stage, CapabilityRegistry.Offer offer, Map<String, Long> sizes,
                                List<ShardRef> sourcePlan) throws JobRejected {
        boolean whole = offer.technique().getWholeModel();
        List<ShardRef> shards = whole ? ShardPlanner.wholeModel(sizes.keySet()) : sourcePlan;
        ShardRef largest = shards.getFirst();
        for (ShardRef s : shards) if (ShardPlanner.bytes(sizes, s) > ShardPlanner.bytes(sizes, largest)) largest = s;
        MemoryPlan plan = new MemoryPlan(ShardPlanner.bytes(sizes, largest), whole, calibrationMargin);
        long declared = offer.service().getMemoryBytes();
        if (!plan.fits(declared)) {
            throw new JobRejected(Status.Code.FAILED_PRECONDITION, "recipe_yaml: stages[" + i + "]." + stage.key() + ": shard "
                    + largest.getShardId() + " needs about " + MemoryPlan.mib(plan.peakBytes()) + " (" + MemoryPlan.mib(plan.shardBytes())
                    + " of tensors" + (whole ? " x5 for teacher, student, gradients and Adam state" : " x2 for input and output")
                    + " + " + MemoryPlan.mib(calibrationMargin) + " calibration margin) but service '" + offer.service().getService()
                    + "' declares " + MemoryPlan.mib(declared));
        }
        Map<String, ParamSpec> specs = specs(offer.technique());
        StagePlan.Builder b = StagePlan.newBuilder().setStageIndex(i).addAllShards(shards).setWholeModel(whole)
                .setPeakBytes(plan.peakBytes()).setService(offer.service().getService());
        // sequential calibration: the technique's calib_mode (the stage's, else its default) says so; per block only
        String mode = effective(stage.params(), specs).getOrDefault(CalibrationSpec.MODE, "");
        if (!whole && mode.trim().equalsIgnoreCase(CalibrationMode.SEQUENTIAL.key())) b.setSequential(true);
        // a stage that sets a needs_plan parameter (e.g. target_bpw) runs one plan task over every tensor first
        if (specs.values().stream().anyMatch(p -> p.getNeedsPlan() && stage.params().containsKey(p.getName()))) {
            b.setPlanShard(ShardRef.newBuilder().setShardId(ShardPlanner.PLAN).setIndex(shards.size())
                    .addAllTensors(sizes.keySet().stream().sorted().toList()));
        }
        return b.build();
    }

    private void checkOutputPath(String path) throws JobRejected {
        if (path.isEmpty()) return;
        Path p = outputDir.resolve(path).normalize();
        if (!p.startsWith(outputDir) || p.equals(outputDir)) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, "recipe_yaml: output.path: " + path + " resolves to " + p
                    + ", not a file inside the output directory " + outputDir + " (shardwise.output-dir)");
        }
    }

    /** Where a job's model file goes: the recipe's output.path inside the output dir, else {@code <job>.gguf}. */
    public static Path outputFile(Path outputDir, String jobId, String recipePath) {
        Path dir = outputDir.toAbsolutePath().normalize();
        return recipePath == null || recipePath.isEmpty() ? dir.resolve(jobId + ".gguf") : dir.resolve(recipePath).normalize();
    }

    private static String num(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
