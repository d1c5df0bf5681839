package io.shardwise.quantizer;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** Test helper of the SmoothQuant and LLM.int8() tests: shared data, a technique over every shard of a stored model, scores against fp32. */
final class Int8Eval {
    /** fp32 stories260K on eval_sample (ppl-v1), as the team brief pins it. */
    static final double FP32_PPL = 5.8121;

    private Int8Eval() {
    }

    /** A file under ../shared/data; skips the test, saying why, when it is absent. */
    static Path shared(String relative) {
        String root = System.getProperty("shardwise.shared");
        Path p = root == null ? null : Path.of(root, "data").resolve(relative);
        if (p == null || !Files.isRegularFile(p)) {
            String why = "skipped: shared data file " + (p == null ? relative + " (system property shardwise.shared is not set)" : p) + " is absent";
            System.out.println(why);
            Assumptions.abort(why);
        }
        return p;
    }

    static CalibrationTexts texts(Path tmp) {
        return new CalibrationTexts(Optional.of(Path.of(System.getProperty("shardwise.shared", "../shared"), "data")), Map.of(), List.of(tmp), tmp.resolve("demo"));
    }

    /** stories260K imported into a store under {@code dir}. */
    record Stored(ModelStore store, String digest, ModelManifest manifest, LlamaModel model) {
        static Stored stories260K(Path dir) throws IOException {
            LlamaModel m = Llama2cCheckpoint.read(shared("stories260K/stories260K.bin"), shared("stories260K/tok512.bin"), Arena.ofAuto());
            ModelStore store = new ModelStore(new FileBlobStore(dir));
            String d = store.importModel(m, "test:" + dir, "stories260K");
            return new Stored(store, d, store.manifest(d), m);
        }

        /** The shard's input as a task would get it. */
        ShardInput input(String shardId, List<String> names, StageSpec stage, String activations) throws IOException {
            ShardRef ref = ShardRef.newBuilder().setShardId(shardId).addAllTensors(names).build();
            return new ShardInput("job", stage, ref, store.tensors(manifest, names), manifest, digest, manifest, digest, store,
                    ShardInput.Progress.NONE, Arena.ofAuto(), activations, "");
        }

        /** Shard id -> tensor names, as the gateway plans them (embed, block.N, head). */
        Map<String, List<String>> shards() {
            Map<String, List<String>> shards = new LinkedHashMap<>();
            Map<Integer, List<String>> blocks = new TreeMap<>();
            List<String> head = new ArrayList<>();
            for (TensorEntry e : manifest.getTensorsList()) {
                int b = TensorNames.blockOf(e.getName());
                if (b >= 0) blocks.computeIfAbsent(b, k -> new ArrayList<>()).add(e.getName());
                else if (e.getName().equals(TensorNames.TOKEN_EMBD)) shards.put("embed", List.of(e.getName()));
                else head.add(e.getName());
            }
            blocks.forEach((b, names) -> shards.put("block." + b, names));
            shards.put("head", head);
            return shards;
        }
    }

    static StageSpec stage(String method, Map<String, String> params) {
        return StageSpec.newBuilder().setKind(StageKind.QUANTIZE).setMethod(method).putAllParams(params).build();
    }

    /** Every shard in order (each block's activation blob handed to the next); the model with all outputs in place. */
    static LlamaModel run(Stored in, ShardTechnique t, Map<String, String> params, Map<String, Double> stats, List<String> activations) throws Exception {
        StageSpec stage = stage(t.method(), params);
        Map<String, Tensor> out = new LinkedHashMap<>();
        String handed = "";
        for (Map.Entry<String, List<String>> s : in.shards().entrySet()) {
            ShardOutput so = t.apply(in.input(s.getKey(), s.getValue(), stage, handed));
            out.putAll(so.tensors());
            so.stats().forEach((k, v) -> stats.merge(k, v, Double::sum));
            activations.add(so.activations());
            if (!so.activations().isEmpty()) handed = so.activations();
        }
        return in.model().withTensors(out);
    }

    record Score(double pplEval, double pplWiki, double kl, double top1) {
    }

    static double pplEval(LlamaModel m) throws IOException {
        return Perplexity.evaluateFile(m, shared("text/tinystories/eval_sample.txt"), 0).ppl();
    }

    static Score score(LlamaModel fp32, LlamaModel q) throws IOException {
        double wiki = AwqEval.WIKITEXT ? Perplexity.evaluateFile(q, shared("text/wikitext-2/wikitext2_test.txt"), 20_000).ppl() : Double.NaN;
        double[] kl = klTop1(fp32, q, Files.readString(shared("text/tinystories/eval_sample.txt")), 4096, 256);
        return new Score(pplEval(q), wiki, kl[0], kl[1]);
    }

    /** Mean KL(p_fp32 || p_q) per position and the fraction of positions whose argmax agrees, over the first maxTokens tokens. */
    static double[] klTop1(LlamaModel ref, LlamaModel q, String text, int maxTokens, int ctx) {
        io.shardwise.core.runtime.Divergence d = io.shardwise.core.runtime.Divergence.of(ref, q, text, maxTokens, ctx);
        return new double[]{d.kl(), d.top1()};
    }

    /** One line of the closing note's table. */
    static void print(String method, String config, Score s) {
        System.out.println(String.format(Locale.ROOT, "TABLE | %-12s | %-36s | ppl eval_sample %.4f (%+.2f%%) | ppl wikitext2[20k] %.3f | KL %.5f | top1 %.4f",
                method, config, s.pplEval(), 100 * (s.pplEval() / FP32_PPL - 1), s.pplWiki(), s.kl(), s.top1()));
    }

    static Map<String, String> calib(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("calibration", "tinystories-train");
        m.put("calib_samples", "32");
        m.put("calib_seq_len", "256");
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }
}
