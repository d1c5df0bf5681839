package io.shardwise.pruner;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.TextDatasets;
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

/** Test helper of the low-rank tests: shared data, a low-rank technique over every shard of a stored model, scores. */
final class LowRankEval {
    private LowRankEval() {
    }

    static Path data() {
        return Path.of(System.getProperty("shardwise.shared", "../shared"), "data");
    }

    /** A file under shared/data; skips the test, saying why, when it is absent. */
    static Path shared(String relative) {
        Path p = data().resolve(relative);
        if (!Files.isRegularFile(p)) {
            String why = "skipped: shared data file " + p + " is absent (shared data not mounted)";
            System.out.println(why);
            Assumptions.abort(why);
        }
        return p;
    }

    static TextDatasets texts(Path tmp) {
        return TextDatasets.withDemo("prune.calibration", Optional.of(data()), Map.of(), List.of(tmp), tmp.resolve("demo"));
    }

    /** stories260K imported into a store under {@code dir}. */
    record Stored(ModelStore store, String digest, ModelManifest manifest, LlamaModel model) {
        static Stored stories260K(Path dir) throws IOException {
            Path bin = shared("stories260K/stories260K.bin");
            LlamaModel m = Llama2cCheckpoint.read(bin, shared("stories260K/tok512.bin"), Arena.ofAuto());
            ModelStore store = new ModelStore(new FileBlobStore(dir));
            String d = store.importModel(m, "file:" + bin, "stories260K");
            return new Stored(store, d, store.manifest(d), store.load(d));
        }
    }

    /** The technique's outputs over every shard, merged: tensors written, weights dropped, and each layer's dense function. */
    record Run(StageSpec stage, Map<String, Tensor> tensors, List<String> removed, Map<String, Tensor> dense, Map<String, Double> stats,
               List<String> notes, String activations) {
        /** The model with every factorized layer as one dense F32 weight (the function the factors compute). */
        LlamaModel reconstructed(LlamaModel input) {
            return input.withTensors(dense);
        }

        /** The stage's output model as the coordinator makes it (the outputs stored, the manifest derived) and the runtime loads it. */
        LlamaModel derived(Stored in) throws IOException {
            return in.store().load(in.store().derive(in.digest(), stage, in.store().storeTensors(tensors.values())));
        }
    }

    /**
     * Runs {@code t} on every shard (embed, block.N, head) in order as the gateway plans them, handing each block's
     * activation blob to the next in sequential mode.
     */
    static Run run(Stored in, LowRankTechnique t, Map<String, String> params) throws Exception {
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.PRUNE).setMethod(t.method()).putAllParams(params).build();
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
        Map<String, Tensor> out = new LinkedHashMap<>(), dense = new LinkedHashMap<>();
        List<String> removed = new ArrayList<>(), notes = new ArrayList<>();
        Map<String, Double> stats = new LinkedHashMap<>();
        String activations = "";
        int index = 0;
        for (Map.Entry<String, List<String>> s : shards.entrySet()) {
            ShardRef ref = ShardRef.newBuilder().setShardId(s.getKey()).setIndex(index++).addAllTensors(s.getValue()).build();
            ShardInput si = new ShardInput("job", stage, ref, in.store().tensors(in.manifest(), s.getValue()), in.manifest(), in.digest(),
                    in.manifest(), in.digest(), in.store(), ShardInput.Progress.NONE, Arena.ofAuto(), activations, "");
            LowRankTechnique.Factorized f = t.factorize(si);
            out.putAll(f.tensors());
            removed.addAll(f.removed());
            dense.putAll(f.dense());
            notes.addAll(f.notes());
            f.stats().forEach((k, v) -> stats.merge(k, v, Double::sum));
            if (!f.activations().isEmpty()) activations = f.activations();
        }
        return new Run(stage, out, removed, dense, stats, notes, activations);
    }

    /** Perplexity on TinyStories eval_sample only. */
    static double pplEval(LlamaModel m) throws IOException {
        return Perplexity.evaluateFile(m, shared("text/tinystories/eval_sample.txt"), 0).ppl();
    }

    /** Perplexity on TinyStories eval_sample and the first 20k WikiText-2 tokens; KL to the reference and top-1 agreement on eval_sample. */
    record Score(double pplEval, double pplWiki, double kl, double top1) {
    }

    static Score score(LlamaModel reference, LlamaModel m) throws IOException {
        double eval = Perplexity.evaluateFile(m, shared("text/tinystories/eval_sample.txt"), 0).ppl();
        double wk = PruneEval.WIKITEXT ? Perplexity.evaluateFile(m, shared("text/wikitext-2/wikitext2_test.txt"), 20_000).ppl() : Double.NaN;
        double[] kl = klTop1(reference, m, Files.readString(shared("text/tinystories/eval_sample.txt")), 4096, 256);
        return new Score(eval, wk, kl[0], kl[1]);
    }

    /** Mean KL(p_ref || p_m) of the next-token distributions and argmax agreement, first {@code maxTokens} tokens, windows of BOS + ctx - 1. */
    static double[] klTop1(LlamaModel ref, LlamaModel q, String text, int maxTokens, int ctx) {
        io.shardwise.core.runtime.Divergence d = io.shardwise.core.runtime.Divergence.of(ref, q, text, maxTokens, ctx);
        return new double[]{d.kl(), d.top1()};
    }

    /** One line of the closing note's table. */
    static void print(String method, String setting, Score s) {
        System.out.println(String.format(Locale.ROOT, "TABLE | %-10s | %-34s | ppl eval_sample %.4f | ppl wikitext2[20k] %.3f | KL %.5f | top1 %.4f",
                method, setting, s.pplEval(), s.pplWiki(), s.kl(), s.top1()));
    }
}
