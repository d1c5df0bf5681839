package io.shardwise.distiller;

import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stage {@code distill}, method {@code kd}: {@link LogitDistillation} of the stage's model (student)
 * toward the job's source model (teacher) on a text dataset. One task holds the whole model.
 */
@ApplicationScoped
public class KdTechnique implements ShardTechnique {
    private static final Logger LOG = Logger.getLogger(KdTechnique.class);

    private final KdDatasets datasets;

    @Inject
    public KdTechnique(DistillerConfig config) {
        this(new KdDatasets(config.dataDir().map(Path::of), config.distiller().datasets(),
                config.distiller().allowedRoots().orElse(List.of()).stream().map(Path::of).toList(),
                config.distiller().demoCache().map(Path::of).orElse(DemoModel.defaultCacheDir())));
    }

    public KdTechnique(KdDatasets datasets) {
        this.datasets = datasets;
    }

    @Override
    public StageKind kind() {
        return StageKind.DISTILL;
    }

    @Override
    public String method() {
        return "kd";
    }

    @Override
    public boolean wholeModel() {
        return true;
    }

    @Override
    public Technique describe() {
        return Technique.newBuilder().setMethod("kd").setKind(StageKind.DISTILL).setWholeModel(true)
                .setDescription("logit distillation toward the source model (Hinton et al. 2015): T^2 * KL(teacher || student) "
                        + "on softened logits, AdamW, pruned zeros kept")
                .addParams(spec("steps", "optimizer steps", "200", 1, 100_000))
                .addParams(spec("lr", "AdamW learning rate", "1e-3", 1e-7, 1))
                .addParams(spec("temperature", "softmax temperature T (> 0)", "2.0", 1e-3, 100))
                .addParams(spec("seq_len", "tokens per window (capped at the model's seq_len)", "128", 2, 1 << 16))
                .addParams(spec("batch", "windows per step", "8", 1, 1024))
                .addParams(spec("seed", "seed for the window sampling", "0", 0, Long.MAX_VALUE))
                .addParams(ParamSpec.newBuilder().setName("dataset").setDefaultValue("tinystories-train")
                        .setDescription("text to distill on: tinystories, tinystories-train, wikitext2, demo, demo-train, or a file path under an allowed root"))
                .build();
    }

    private static ParamSpec spec(String name, String description, String def, double min, double max) {
        return ParamSpec.newBuilder().setName(name).setDescription(description).setDefaultValue(def).setMin(min).setMax(max).build();
    }

    /** The stage's parameters as settings; a bad value throws naming the field. */
    public static LogitDistillation.Settings settings(Map<String, String> params) {
        for (String k : params.keySet()) {
            if (!List.of("steps", "lr", "temperature", "seq_len", "batch", "seed", "dataset", "method").contains(k)) {
                throw new IllegalArgumentException("distill." + k + ": unknown parameter of method kd (known: steps, lr, temperature, seq_len, batch, seed, dataset)");
            }
        }
        int steps = (int) number(params, "steps", "200", true);
        if (steps > 100_000) throw new IllegalArgumentException("distill.steps must be <= 100000, got " + steps);
        return new LogitDistillation.Settings(steps, number(params, "lr", "1e-3", false), number(params, "temperature", "2.0", false),
                (int) number(params, "seq_len", "128", true), (int) number(params, "batch", "8", true), (long) number(params, "seed", "0", true));
    }

    private static double number(Map<String, String> params, String name, String def, boolean integer) {
        String v = params.getOrDefault(name, def).strip();
        try {
            return integer ? Long.parseLong(v) : Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("distill." + name + " must be " + (integer ? "an integer" : "a number") + ", got '" + v + "'");
        }
    }

    @Override
    public ShardOutput apply(ShardInput in) throws Exception {
        Map<String, String> params = in.stage().getParamsMap();
        LogitDistillation.Settings s = settings(params);
        String dataset = params.getOrDefault("dataset", "tinystories-train");
        Path text = datasets.resolve(dataset);
        ModelStore store = in.store();
        LlamaModel student = new LlamaModel(LlamaConfig.fromProto(in.inputManifest().getConfig()), store.vocabulary(in.inputManifest()), in.tensors());
        LlamaModel teacher = store.load(in.sourceDigest());
        int[] tokens = Tokenizers.forVocabulary(student.vocabulary()).encode(Files.readAllBytes(text));
        LOG.infof("job %s stage %s shard %s: kd on %s (%d tokens), %s", in.jobId(), in.stage().getName(), in.shard().getShardId(), dataset, tokens.length, s);
        LogitDistillation.Result r = LogitDistillation.distill(student, teacher, tokens, s, in.progress());
        LOG.infof("job %s stage %s shard %s: kd loss %.4f -> %.4f", in.jobId(), in.stage().getName(), in.shard().getShardId(), r.firstLoss(), r.lastLoss());
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("kd_loss_first", r.firstLoss());
        stats.put("kd_loss_last", r.lastLoss());
        stats.put("kd_loss_tail", r.tailLoss());
        stats.put("kd_steps", (double) s.steps());
        stats.put("kd_tokens", (double) tokens.length);
        stats.put("zeros_kept", (double) r.zerosKept());
        return new ShardOutput(r.tensors(), stats, List.of(String.format("kd on %s: %d steps of %d x %d tokens, T=%s, loss %.4f -> %.4f; %d pruned zeros kept",
                dataset, s.steps(), s.batch(), r.seqLen(), s.temperature(), r.firstLoss(), r.tailLoss(), r.zerosKept())));
    }
}
