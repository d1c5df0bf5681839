package io.shardwise.evaluator;

import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.proto.v1.EvalTask;
import io.shardwise.proto.v1.EvaluateSpec;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** A tiny seeded Llama with a byte-fallback vocabulary, and models derived from it as stages would. */
final class TestModels {
    /** dim 32, hidden 64 (multiples of 32: every matrix fits Q8_0 blocks), 2 layers, 4 heads / 2 kv heads, vocab 288, seq_len 64. */
    static final LlamaConfig CONFIG = new LlamaConfig(32, 64, 2, 4, 2, 288, 64, 10000f, 1e-5f, true);

    private TestModels() {
    }

    static LlamaModel tiny(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> t = new java.util.LinkedHashMap<>();
        LlamaConfig c = CONFIG;
        matrix(t, TensorNames.TOKEN_EMBD, c.dim(), c.vocabSize(), rnd, 1.0);
        for (int l = 0; l < c.nLayers(); l++) {
            norm(t, TensorNames.attnNorm(l), c.dim());
            matrix(t, TensorNames.attnQ(l), c.dim(), c.dim(), rnd, 0.3);
            matrix(t, TensorNames.attnK(l), c.dim(), c.kvDim(), rnd, 0.3);
            matrix(t, TensorNames.attnV(l), c.dim(), c.kvDim(), rnd, 0.3);
            matrix(t, TensorNames.attnOutput(l), c.dim(), c.dim(), rnd, 0.3);
            norm(t, TensorNames.ffnNorm(l), c.dim());
            matrix(t, TensorNames.ffnGate(l), c.dim(), c.hiddenDim(), rnd, 0.3);
            matrix(t, TensorNames.ffnUp(l), c.dim(), c.hiddenDim(), rnd, 0.3);
            matrix(t, TensorNames.ffnDown(l), c.hiddenDim(), c.dim(), rnd, 0.3);
        }
        norm(t, TensorNames.OUTPUT_NORM, c.dim());
        return new LlamaModel(c, vocabulary(c.vocabSize()), t);
    }

    /** {@code <unk> <s> </s>}, the 256 byte tokens, then a few letters and merges. */
    static Vocabulary vocabulary(int n) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) tokens.add(String.format("<0x%02X>", b));
        String[] extra = {" ", "e", "t", "a", "o", "n", "h", "s", "d", "r", "i", "l", "T", "c", ".", ",", " t", "he", " a",
                " the", "at", "ay", " d", "og", " dog", "an", "nd", " and", "in"};
        for (String s : extra) if (tokens.size() < n) tokens.add(s);
        float[] scores = new float[n];
        for (int i = 259; i < tokens.size(); i++) scores[i] = -(i - 259);
        while (tokens.size() < n) tokens.add("<pad" + tokens.size() + ">");
        return new Vocabulary(tokens, scores, 8, 1, 2);
    }

    /** Every other weight of every block matrix set to zero: half the block matrices' parameters. */
    static String halfPruned(ModelStore store, String parent) throws IOException {
        LlamaModel m = store.load(parent);
        List<Tensor> out = new ArrayList<>();
        for (int l = 0; l < CONFIG.nLayers(); l++) {
            for (String n : TensorNames.blockMatrices(l)) {
                float[] v = m.tensor(n).toFloats();
                for (int i = 0; i < v.length; i += 2) v[i] = 0f;
                out.add(Tensor.ofFloats(n, m.tensor(n).shape(), v));
            }
        }
        return derive(store, parent, out, StageKind.PRUNE, "magnitude");
    }

    static String q8(ModelStore store, String parent) throws IOException {
        LlamaModel m = store.load(parent);
        List<Tensor> out = new ArrayList<>();
        for (int l = 0; l < CONFIG.nLayers(); l++) {
            for (String n : TensorNames.blockMatrices(l)) {
                Tensor t = m.tensor(n);
                out.add(TensorCodecs.quantize(n, t.shape(), t.toFloats(), GgmlType.Q8_0));
            }
        }
        return derive(store, parent, out, StageKind.QUANTIZE, "rtn");
    }

    static long blockMatrixParams() {
        long n = 0;
        LlamaConfig c = CONFIG;
        n += (long) c.dim() * c.dim() * 2 + (long) c.dim() * c.kvDim() * 2 + (long) c.dim() * c.hiddenDim() * 3;
        return n * c.nLayers();
    }

    private static String derive(ModelStore store, String parent, List<Tensor> tensors, StageKind kind, String method) throws IOException {
        List<TensorEntry> entries = store.storeTensors(tensors);
        return store.derive(parent, StageSpec.newBuilder().setIndex(0).setKind(kind).setMethod(method).setName(kind.name().toLowerCase()).build(), entries);
    }

    static EvalTask task(String job, int stage, String manifest, String source, long maxTokens, String... datasets) {
        return EvalTask.newBuilder().setJobId(job).setStageIndex(stage).setStageName(stage < 0 ? "" : "stage" + stage)
                .setMethod(stage < 0 ? "" : "m").setManifest(manifest).setSourceManifest(source)
                .setSpec(EvaluateSpec.newBuilder().addAllDatasets(List.of(datasets)).setCompareToSource(true).setMaxTokens((int) maxTokens))
                .build();
    }

    /** The task with {@code evaluate.kv_cache} set to {@code kv}. */
    static EvalTask withKv(EvalTask task, String... kv) {
        return task.toBuilder().setSpec(task.getSpec().toBuilder().clearKvCache().addAllKvCache(List.of(kv))).build();
    }

    private static void matrix(Map<String, Tensor> t, String name, int in, int out, SplittableRandom rnd, double scale) {
        float[] v = new float[in * out];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextDouble(-1, 1) * scale);
        t.put(name, Tensor.ofFloats(name, new long[]{in, out}, v));
    }

    private static void norm(Map<String, Tensor> t, String name, int dim) {
        float[] v = new float[dim];
        java.util.Arrays.fill(v, 1f);
        t.put(name, Tensor.ofFloats(name, new long[]{dim}, v));
    }
}
