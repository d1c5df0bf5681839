package io.shardwise.quantizer;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.calib.CalibrationMode;
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

/** Test helper of the AWQ and imatrix tests: shared data, running a technique over every shard of a stored model, scores. */
final class AwqEval {
    /** WikiText-2 perplexity is for the closing note's table, not asserted: scored only with -Dshardwise.quality.wikitext=true. */
    static final boolean WIKITEXT = Boolean.getBoolean("shardwise.quality.wikitext");

    private AwqEval() {
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

    static LlamaModel stories260K() throws IOException {
        return Llama2cCheckpoint.read(shared("stories260K/stories260K.bin"), shared("stories260K/tok512.bin"), Arena.ofAuto());
    }

    static CalibrationTexts texts(Path tmp) {
        return new CalibrationTexts(Optional.of(Path.of(System.getProperty("shardwise.shared", "../shared"), "data")), Map.of(), List.of(tmp), tmp.resolve("demo"));
    }

    /** A model in a store, as a stage's input. */
    record Stored(ModelStore store, String digest, ModelManifest manifest, LlamaModel model) {
        static Stored of(LlamaModel m, Path dir) throws IOException {
            ModelStore store = new ModelStore(new FileBlobStore(dir));
            String d = store.importModel(m, "test:" + dir, "test");
            return new Stored(store, d, store.manifest(d), m);
        }
    }

    /**
     * Runs {@code t} on every shard (embed, block.N, head) in order, as the gateway plans them, handing each block's
     * activation blob to the next in sequential mode; returns the input model with every output tensor in place.
     */
    static LlamaModel run(Stored in, ShardTechnique t, Map<String, String> params, List<String> notes) throws Exception {
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.QUANTIZE).setMethod(t.method()).putAllParams(params).build();
        Map<String, List<String>> shards = new LinkedHashMap<>();
        Map<Integer, List<String>> blocks = new TreeMap<>();
        List<String> head = new ArrayList<>();
        for (TensorEntry e : in.manifest().getTensorsList()) {
            int b = TensorNames.blockOf(e.getName());
            if (b >= 0) blocks.computeIfAbsent(b, k -> new ArrayList<>()).add(e.getName());
            else if (e.getName().equals(TensorNames.TOKEN_EMBD)) shards.put("embed", List.of(e.getName()));
            else head.add(e.getName());
        }
        blocks.forEach((b, names) -> shards.put("block." + b, names));
        shards.put("head", head);
        Map<String, Tensor> out = new LinkedHashMap<>();
        String activations = "";
        int index = 0;
        for (Map.Entry<String, List<String>> s : shards.entrySet()) {
            ShardRef ref = ShardRef.newBuilder().setShardId(s.getKey()).setIndex(index++).addAllTensors(s.getValue()).build();
            ShardInput si = new ShardInput("job", stage, ref, in.store().tensors(in.manifest(), s.getValue()), in.manifest(), in.digest(),
                    in.manifest(), in.digest(), in.store(), ShardInput.Progress.NONE, Arena.ofAuto(), activations, "");
            ShardOutput so = t.apply(si);
            out.putAll(so.tensors());
            notes.addAll(so.notes());
            if (!so.activations().isEmpty()) activations = so.activations();
        }
        return in.model().withTensors(out);
    }

    /** Perplexity on TinyStories eval_sample and the first 20k WikiText-2 tokens; KL to fp32 and top-1 agreement on eval_sample. */
    record Score(double pplEval, double pplWiki, double kl, double top1) {
    }

    static Score score(LlamaModel fp32, LlamaModel q, boolean wiki) throws IOException {
        double eval = Perplexity.evaluateFile(q, shared("text/tinystories/eval_sample.txt"), 0).ppl();
        double wk = wiki && WIKITEXT ? Perplexity.evaluateFile(q, shared("text/wikitext-2/wikitext2_test.txt"), 20_000).ppl() : Double.NaN;
        double[] kl = klTop1(fp32, q, Files.readString(shared("text/tinystories/eval_sample.txt")), 4096, 256);
        return new Score(eval, wk, kl[0], kl[1]);
    }

    /**
     * Mean KL(p_fp32 || p_q) of the next-token distributions and the fraction of positions whose argmax agrees, over the
     * first {@code maxTokens} tokens of {@code text}, in windows of BOS + (ctx - 1) tokens.
     */
    static double[] klTop1(LlamaModel ref, LlamaModel q, String text, int maxTokens, int ctx) {
        io.shardwise.core.runtime.Divergence d = io.shardwise.core.runtime.Divergence.of(ref, q, text, maxTokens, ctx);
        return new double[]{d.kl(), d.top1()};
    }

    /** One line of the closing note's table. */
    static void print(String method, String type, Score s) {
        System.out.println(String.format(Locale.ROOT, "TABLE | %-22s | %-30s | ppl eval_sample %.4f | ppl wikitext2[20k] %s | KL %.5f | top1 %.4f",
                method, type, s.pplEval(), Double.isNaN(s.pplWiki()) ? "-" : String.format(Locale.ROOT, "%.3f", s.pplWiki()), s.kl(), s.top1()));
    }

    static Map<String, String> calib(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("calibration", "tinystories-train");
        m.put("calib_samples", "32");
        m.put("calib_seq_len", "256");
        m.put("calib_mode", CalibrationMode.INDEPENDENT.key());
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }
}
