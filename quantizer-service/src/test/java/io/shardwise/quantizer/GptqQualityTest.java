package io.shardwise.quantizer;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.GroupIntType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPTQ against RTN in the same format on the real stories260K, calibrated on TinyStories training text and scored
 * on the evaluation sample (and WikiText-2's first 20k tokens), with KL divergence and top-1 agreement against fp32.
 */
class GptqQualityTest {
    static final Map<String, String> CALIBRATION = Map.of("calibration", "tinystories-train", "calib_samples", "32", "calib_seq_len", "256");

    record Scores(double ppl, double wikiPpl, double kl, double top1) {
    }

    @Test
    void gptqBeatsRtnAtTheSameFormatAndSequentialIsNoWorseThanIndependent(@TempDir Path tmp) throws Exception {
        Path data = Path.of(System.getProperty("shardwise.shared", "../shared"), "data");
        Path bin = data.resolve("stories260K/stories260K.bin"), evalText = data.resolve("text/tinystories/eval_sample.txt"),
                wiki = data.resolve("text/wikitext-2/wikitext2_test.txt");
        for (Path p : List.of(bin, evalText, wiki, data.resolve("text/tinystories/train_head.txt"))) {
            Assumptions.assumeTrue(Files.exists(p), () -> {
                System.out.println("skipped: " + p + " is absent (shared data not mounted)");
                return "shared data absent: " + p;
            });
        }
        ModelStore store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        String source;
        try (Arena arena = Arena.ofShared()) {
            source = store.importModel(Llama2cCheckpoint.read(bin, bin.resolveSibling("tok512.bin"), arena), "file:" + bin, "stories260K");
        }
        GptqTechnique gptq = new GptqTechnique(new CalibrationTexts(Optional.of(data), Map.of(), List.of(), tmp.resolve("demo")));
        LlamaModel fp32 = store.load(source);
        TextTokenizer tok = Tokenizers.forVocabulary(fp32.vocabulary());
        int[] evalTokens = tok.encode(Files.readAllBytes(evalText));
        float[][] reference = logits(fp32, tok.bos(), evalTokens);
        Scores base = score(fp32, tok, evalTokens, reference, evalText, wiki);
        System.out.println(line("fp32", "F32", base));

        Map<String, Scores> s = new LinkedHashMap<>();
        record Config(String name, Map<String, String> params, TensorType rtn, TensorType rtnFallback, List<String> modes) {
        }
        List<Config> configs = List.of(
                // sequential vs independent is compared on one format: each GPTQ run plus its scoring costs a minute
                new Config("per-channel asym", Map.of("bits", "4", "group_size", "-1", "sym", "false"), ChannelIntType.I4_ASYM_CH, ChannelIntType.I4_ASYM_CH,
                        List.of("independent", "sequential")),
                new Config("g32 sym", Map.of("bits", "4", "group_size", "32", "sym", "true", "fallback", "per_channel"), GgmlType.Q4_0, new GroupIntType(4, 172, true),
                        List.of("independent")));
        for (Config c : configs) {
            String rtnModel = rtn(store, source, c.rtn(), c.rtnFallback());
            Scores rtn = score(store.load(rtnModel), tok, evalTokens, reference, evalText, wiki);
            System.out.println(line("RTN " + c.name(), c.rtn().typeName(), rtn));
            for (String mode : c.modes()) {
                Map<String, String> params = new LinkedHashMap<>(CALIBRATION);
                params.putAll(c.params());
                params.put("calib_mode", mode);
                String model = runGptq(store, source, gptq, params);
                Scores g = score(store.load(model), tok, evalTokens, reference, evalText, wiki);
                System.out.println(line("GPTQ " + c.name() + " " + mode, store.manifest(model).getTensorsList().stream()
                        .filter(e -> e.getName().equals(TensorNames.attnQ(0))).findFirst().orElseThrow().getType(), g));
                s.put(c.name() + " " + mode, g);
                assertTrue(g.ppl() < rtn.ppl(), "GPTQ " + c.name() + " " + mode + " ppl " + g.ppl() + " vs RTN " + rtn.ppl());
            }
            if (!c.modes().contains("sequential")) continue;
            double ind = s.get(c.name() + " independent").ppl(), seq = s.get(c.name() + " sequential").ppl();
            assertTrue(seq <= ind * 1.005, c.name() + ": sequential " + seq + " vs independent " + ind);
        }
    }

    static String line(String method, String format, Scores s) {
        return String.format(Locale.ROOT, "| %-28s | %-12s | ppl eval_sample %.4f | ppl wikitext2[20k] %.2f | KL %.5f | top1 %.4f |",
                method, format, s.ppl(), s.wikiPpl(), s.kl(), s.top1());
    }

    /** The gateway's plan (embed, block.N in order, head), each shard run as a task; sequential mode hands activations on. */
    static String runGptq(ModelStore store, String source, GptqTechnique t, Map<String, String> params) throws Exception {
        ModelManifest in = store.manifest(source);
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.QUANTIZE).setMethod("gptq").setName("gptq").putAllParams(params).build();
        List<TensorEntry> replaced = new ArrayList<>();
        String activations = "";
        for (ShardRef shard : shards(in)) {
            try (Arena arena = Arena.ofShared()) {
                Map<String, Tensor> tensors = store.tensors(in, shard.getTensorsList(), arena);
                ShardInput si = new ShardInput("job", stage, shard, tensors, in, source, in, source, store, ShardInput.Progress.NONE, arena,
                        shard.getShardId().equals("embed") ? "" : activations, "");
                ShardOutput out = t.apply(si);
                if (!out.tensors().isEmpty()) replaced.addAll(store.storeTensors(out.tensors().values()));
                if (shard.getShardId().startsWith("block.")) activations = out.activations();
                assertEquals(0.0, out.stats().get("ignored_tensors"));
            }
        }
        return store.derive(source, stage, replaced);
    }

    /** RTN on every matrix; a matrix whose rows the block does not fit gets {@code fallback}, as GPTQ's per_channel. */
    static String rtn(ModelStore store, String source, TensorType type, TensorType fallback) throws Exception {
        ModelManifest in = store.manifest(source);
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : store.load(source).tensors().values()) {
            if (t.shape().length < 2) continue;
            boolean fits = !(type instanceof GgmlType g) || g.fitsRow(t.cols());
            out.add(Rtn.quantize(t, fits ? type : fallback, Arena.ofAuto()).tensor());
        }
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.QUANTIZE).setMethod("rtn").putParams("type", type.typeName()).build();
        return store.derive(source, stage, store.storeTensors(out));
    }

    static List<ShardRef> shards(ModelManifest m) {
        List<String> embed = new ArrayList<>(), head = new ArrayList<>();
        Map<Integer, List<String>> blocks = new TreeMap<>();
        for (TensorEntry e : m.getTensorsList()) {
            int b = TensorNames.blockOf(e.getName());
            if (b >= 0) blocks.computeIfAbsent(b, k -> new ArrayList<>()).add(e.getName());
            else if (e.getName().equals(TensorNames.TOKEN_EMBD)) embed.add(e.getName());
            else head.add(e.getName());
        }
        List<ShardRef> out = new ArrayList<>();
        out.add(ShardRef.newBuilder().setShardId("embed").setIndex(0).addAllTensors(embed).build());
        for (var b : blocks.entrySet()) out.add(ShardRef.newBuilder().setShardId("block." + b.getKey()).setIndex(out.size()).addAllTensors(b.getValue()).build());
        if (!head.isEmpty()) out.add(ShardRef.newBuilder().setShardId("head").setIndex(out.size()).addAllTensors(head).build());
        return out;
    }

    /** ppl from the same protocol logits KL reads (row r of chunk i predicts token i * chunk + r), so one pass scores both. */
    static Scores score(LlamaModel m, TextTokenizer tok, int[] evalTokens, float[][] reference, Path evalText, Path wiki) throws Exception {
        double wikiPpl = AwqEval.WIKITEXT ? Perplexity.evaluateFile(m, wiki, 20_000).ppl() : Double.NaN;
        float[][] q = logits(m, tok.bos(), evalTokens);
        int vocab = m.config().vocabSize(), chunk = q.length > 1 ? q[0].length / vocab : evalTokens.length;
        double kl = 0, nll = 0;
        long agree = 0, n = 0;
        for (int i = 0; i < q.length; i++) {
            for (int r = 0; r < q[i].length / vocab; r++) {
                double[] lp = logSoftmax(reference[i], r * vocab, vocab), lq = logSoftmax(q[i], r * vocab, vocab);
                int ap = 0, aq = 0;
                for (int v = 0; v < vocab; v++) {
                    kl += Math.exp(lp[v]) * (lp[v] - lq[v]);
                    if (lp[v] > lp[ap]) ap = v;
                    if (lq[v] > lq[aq]) aq = v;
                }
                nll -= lq[evalTokens[i * chunk + r]];
                if (ap == aq) agree++;
                n++;
            }
        }
        return new Scores(Math.exp(nll / n), wikiPpl, kl / n, (double) agree / n);
    }

    /** The protocol's chunks' logits (row r of chunk i predicts token i * chunk + r), packed row by row. */
    static float[][] logits(LlamaModel m, int bos, int[] tokens) {
        LlamaRuntime rt = new LlamaRuntime(m);
        int chunk = Perplexity.context(rt.config()) - 1, vocab = m.config().vocabSize();
        LlamaRuntime.Session s = rt.newSession(chunk);
        List<float[]> out = new ArrayList<>();
        for (int off = 0; off < tokens.length; off += chunk) {
            int len = Math.min(chunk, tokens.length - off);
            LlamaRuntime.Logits l = Perplexity.chunkLogits(s, bos, tokens, off, len);
            float[] f = new float[len * vocab];
            for (int r = 0; r < len; r++) for (int v = 0; v < vocab; v++) f[r * vocab + v] = l.get(r, v);
            out.add(f);
        }
        return out.toArray(float[][]::new);
    }

    private static double[] logSoftmax(float[] x, int off, int n) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        for (int i = 0; i < n; i++) sum += Math.exp(x[off + i] - max);
        double lse = max + Math.log(sum);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = x[off + i] - lse;
        return out;
    }
}
