package io.shardwise.evaluator;

import io.shardwise.core.blob.Sha256;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.KvCacheType;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.proto.v1.EvalTask;
import io.shardwise.proto.v1.ModelScored;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Scores one model of a job (DESIGN.md "Evaluate"): perplexity and mean NLL per dataset under the
 * pinned protocol {@value Perplexity#PROTOCOL}, and size (params, non-zero params, sparsity, bytes,
 * bits per weight, compression ratio vs the source). Each value carries the source model's value for
 * the same metric and dataset as its baseline (NaN when there is none). Scores are cached by manifest
 * digest, so the source model is scored once however many jobs and stages compare against it.
 * Each KV-cache type the spec lists ({@code evaluate.kv_cache}: int8, int4) scores perplexity and mean NLL again on
 * the same datasets with that cache; those values carry the label in {@code kv_cache} and the same model's
 * float32-KV value as their baseline, so they show what the KV cache alone costs.
 * No Kafka, no Quarkus: the service's consumer is a thin adapter around {@link #evaluate}.
 */
public final class ModelEvaluator {
    /** The last value of every EvalTask's output (dataset ""): the gateway counts the stage as evaluated on it. */
    public static final String EVAL_DONE = "eval_done";
    private static final Logger LOG = Logger.getLogger(ModelEvaluator.class);

    private final ModelStore store;
    private final Datasets datasets;
    private final ScoreCache cache;
    private final int threads;
    private final AtomicInteger perplexityRuns = new AtomicInteger();
    private final AtomicInteger sizeRuns = new AtomicInteger();

    public ModelEvaluator(ModelStore store, Datasets datasets, ScoreCache cache, int threads) {
        this.store = store;
        this.datasets = datasets;
        this.cache = cache;
        this.threads = threads > 0 ? threads : Perplexity.defaultThreads();
    }

    /** How many perplexity evaluations actually ran (not answered from the cache). */
    public int perplexityRuns() {
        return perplexityRuns.get();
    }

    public int sizeRuns() {
        return sizeRuns.get();
    }

    /** Every score of the task's model, then the {@value #EVAL_DONE} marker. */
    public List<ModelScored> evaluate(EvalTask task) throws IOException {
        String digest = Sha256.requireValid(task.getManifest());
        String source = task.getSourceManifest().isEmpty() ? "" : Sha256.requireValid(task.getSourceManifest());
        long maxTokens = task.getSpec().getMaxTokens();
        if (maxTokens < 0) throw new IllegalArgumentException("evaluate.max_tokens must be >= 0 (0 = whole file), got " + maxTokens);
        List<KvCacheType> kvTypes = kvTypes(task.getSpec().getKvCacheList());
        ModelScored.Builder base = ModelScored.newBuilder().setJobId(task.getJobId()).setStageIndex(task.getStageIndex())
                .setStageName(task.getStageName()).setMethod(task.getMethod()).setManifest(digest).setProtocol(Perplexity.PROTOCOL);
        List<ModelScored> out = new ArrayList<>();

        SizeScores size = size(digest);
        Optional<SizeScores> src = source.isEmpty() ? Optional.empty() : Optional.of(source.equals(digest) ? size : size(source));
        out.add(scored(base, "params", "", size.params(), src.map(s -> (double) s.params()), 0));
        out.add(scored(base, "nonzero_params", "", size.nonzeroParams(), src.map(s -> (double) s.nonzeroParams()), 0));
        out.add(scored(base, "sparsity", "", size.sparsity(), src.map(SizeScores::sparsity), 0));
        out.add(scored(base, "bytes", "", size.bytes(), src.map(s -> (double) s.bytes()), 0));
        out.add(scored(base, "bpw", "", size.bitsPerWeight(), src.map(SizeScores::bitsPerWeight), 0));
        out.add(scored(base, "compression_ratio", "", src.map(s -> (double) s.bytes() / size.bytes()).orElse(Double.NaN),
                src.map(s -> 1.0), 0));

        // models stay mapped for this evaluation only, so the process does not keep every model it ever scored
        try (Arena arena = Arena.ofShared()) {
            Scorer model = new Scorer(digest, arena);
            Scorer baseline = source.isEmpty() || !task.getSpec().getCompareToSource() ? null
                    : source.equals(digest) ? model : new Scorer(source, arena);
            scorePerplexity(task, maxTokens, kvTypes, base, model, baseline, out);
        }
        out.add(scored(base, EVAL_DONE, "", out.size(), Optional.empty(), 0));
        return out;
    }

    /** The spec's KV-cache types, each checked by index: int8 or int4 (float32 is always scored), none twice. */
    static List<KvCacheType> kvTypes(List<String> labels) {
        List<KvCacheType> out = new ArrayList<>();
        for (int i = 0; i < labels.size(); i++) {
            String at = "evaluate.kv_cache[" + i + "]";
            KvCacheType t;
            try {
                t = KvCacheType.parse(labels.get(i));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(at + ": '" + labels.get(i) + "' is not a KV-cache type (known: int8, int4)");
            }
            if (!t.quantized()) throw new IllegalArgumentException(at + ": 'f32' is always scored; list int8 and/or int4");
            if (out.contains(t)) throw new IllegalArgumentException(at + ": '" + t.label() + "' is listed twice");
            out.add(t);
        }
        return out;
    }

    private void scorePerplexity(EvalTask task, long maxTokens, List<KvCacheType> kvTypes, ModelScored.Builder base, Scorer model,
                                 Scorer baseline, List<ModelScored> out) throws IOException {
        for (String dataset : task.getSpec().getDatasetsList()) {
            Path file = datasets.resolve(dataset);
            String contentSha = Sha256.of(file);
            PerplexityResult r = model.perplexity(dataset, file, contentSha, maxTokens, KvCacheType.F32);
            Optional<PerplexityResult> b = baseline == null ? Optional.empty()
                    : Optional.of(baseline.perplexity(dataset, file, contentSha, maxTokens, KvCacheType.F32));
            out.add(scored(base, "nll", dataset, r.meanNll(), b.map(PerplexityResult::meanNll), r.tokens()));
            out.add(scored(base, "ppl", dataset, r.ppl(), b.map(PerplexityResult::ppl), r.tokens()));
            for (KvCacheType kv : kvTypes) { // baseline: this model with a float32 cache, so the value shows the KV cost alone
                PerplexityResult q = model.perplexity(dataset, file, contentSha, maxTokens, kv);
                ModelScored.Builder kvBase = base.clone().setKvCache(kv.label());
                out.add(scored(kvBase, "nll", dataset, q.meanNll(), Optional.of(r.meanNll()), q.tokens()));
                out.add(scored(kvBase, "ppl", dataset, q.ppl(), Optional.of(r.ppl()), q.tokens()));
            }
        }
    }

    private static ModelScored scored(ModelScored.Builder base, String metric, String dataset, double value, Optional<Double> baseline, long tokens) {
        return base.clone().setMetric(metric).setDataset(dataset).setValue(value)
                .setBaselineValue(baseline.orElse(Double.NaN)).setTokens(tokens).build();
    }

    /** Size metrics of a manifest, from the cache or by reading every tensor once. */
    public SizeScores size(String digest) throws IOException {
        Optional<SizeScores> cached = cache.size(digest);
        if (cached.isPresent()) return cached.get();
        long params = 0, nonzero = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (Tensor t : store.load(digest, arena).tensors().values()) {
                params += t.elements();
                nonzero += nonzero(t);
            }
        }
        SizeScores s = new SizeScores(params, nonzero, ModelStore.tensorBytes(store.manifest(digest)));
        sizeRuns.incrementAndGet();
        cache.putSize(digest, s);
        return s;
    }

    /** Non-zero values of a tensor, dequantized a row chunk at a time (a 1B embedding is 1 GiB as floats). */
    static long nonzero(Tensor t) {
        TensorCodec codec = TensorCodecs.codec(t.type());
        int cols = t.cols(), rows = t.rows();
        int chunkRows = Math.max(1, (1 << 18) / cols);
        float[] buf = new float[chunkRows * cols];
        long count = 0;
        for (int r = 0; r < rows; r += chunkRows) {
            int n = Math.min(chunkRows, rows - r) * cols;
            codec.dequantize(t.data(), (long) r * cols, n, cols, buf, 0);
            for (int i = 0; i < n; i++) if (buf[i] != 0f) count++;
            if (t.data().isMapped() && t.type() instanceof io.shardwise.core.tensor.GgmlType) { // read once: drop its pages as we go
                long rowBytes = t.type().byteSize(new long[]{cols});
                t.data().asSlice(r * rowBytes, (long) (n / cols) * rowBytes).unload();
            }
        }
        return count;
    }

    /** Perplexity of one model on several datasets: the model is loaded (and dequantized) only when a score is not cached. */
    private final class Scorer {
        private final String digest;
        private final Arena arena;
        private LlamaRuntime runtime;
        private TextTokenizer tokenizer;

        Scorer(String digest, Arena arena) {
            this.digest = digest;
            this.arena = arena;
        }

        PerplexityResult perplexity(String dataset, Path file, String contentSha, long maxTokens, KvCacheType kv) throws IOException {
            Path key = cache.perplexityFile(digest, dataset, contentSha, maxTokens, Perplexity.PROTOCOL, kv, KvCacheType.DEFAULT_GROUP);
            Optional<PerplexityResult> cached = cache.perplexity(key);
            if (cached.isPresent()) {
                LOG.debugf("model %s on %s (kv %s): cached (%s)", digest, dataset, kv.label(), key.getFileName());
                return cached.get();
            }
            if (runtime == null) {
                LlamaModel m = store.load(digest, arena);
                runtime = new LlamaRuntime(m).releasingPages(); // resident weights stay near one layer, not the model
                tokenizer = Tokenizers.forVocabulary(m.vocabulary());
            }
            long t0 = System.nanoTime();
            PerplexityResult r = kv.quantized()
                    ? Perplexity.evaluateFile(runtime.withKvCache(kv, KvCacheType.DEFAULT_GROUP), tokenizer, file, maxTokens, threads)
                    : Perplexity.evaluateFile(runtime, tokenizer, file, maxTokens, threads);
            perplexityRuns.incrementAndGet();
            LOG.infof("model %s on %s (kv %s): %d tokens, mean NLL %.5f, ppl %.4f in %d ms", digest.substring(0, 12), dataset,
                    kv.label(), r.tokens(), r.meanNll(), r.ppl(), (System.nanoTime() - t0) / 1_000_000);
            cache.putPerplexity(key, r);
            return r;
        }
    }
}
