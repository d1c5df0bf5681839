package io.shardwise.core.train;

import io.shardwise.core.blob.Sha256;
import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.format.Llama2cTokenizerFile;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Properties;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The model the project makes itself, so a new user needs no model file: a tiny Llama trained
 * with DJL on text from {@link SyntheticGrammar}, whose entropy gives its perplexity a floor.
 * Files are cached under a directory named by a hash of every setting, written to a temporary
 * directory and renamed into place, so a second call is instant and a crash leaves nothing half-made.
 *
 * @param model      llama2.c checkpoint ({@link Llama2cCheckpoint#read} loads it)
 * @param tokenizer  its {@code tok<vocab>.bin}, beside it
 * @param trainText  the training text (stories, one per line)
 * @param evalText   held-out text from another seed
 * @param floorNll   entropy floor of the held-out text, nats per token
 * @param evalNll    the model's mean NLL on the held-out text under the pinned perplexity protocol
 * @param trainMillis wall time of the training run that made the cached files
 */
public record DemoModel(Path model, Path tokenizer, Path trainText, Path evalText, double floorNll, double evalNll,
                        long trainMillis) {

    /** Bump when the grammar, the training code or the file layout changes: it renames the cache entry. */
    static final int VERSION = 1;
    static final long TRAIN_SEED = 1, EVAL_SEED = 2;

    /** What to train: the model shape, the optimizer run and the corpus sizes (all part of the cache key). */
    record Recipe(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int seqLen,
                  LlamaPretraining.Settings training, int trainTokens, int evalTokens) {
        LlamaConfig config(SyntheticGrammar grammar) {
            return new LlamaConfig(dim, hiddenDim, nLayers, nHeads, nKvHeads, grammar.vocabulary().size(), seqLen, 10000f, 1e-5f, true);
        }

        String key() {
            return Sha256.of(("v" + VERSION + " " + this + " " + TRAIN_SEED + "/" + EVAL_SEED).getBytes(StandardCharsets.UTF_8)).substring(0, 16);
        }
    }

    static final Recipe DEFAULT = new Recipe(64, 192, 4, 4, 2, 256,
            new LlamaPretraining.Settings(400, 8, 2e-2, 40, 0.1, 20251125L), 600_000, 20_000);

    public double floorPpl() {
        return Math.exp(floorNll);
    }

    public double evalPpl() {
        return Math.exp(evalNll);
    }

    /** {@code ~/.cache/shardwise/demo} */
    public static Path defaultCacheDir() {
        return Path.of(System.getProperty("user.home"), ".cache", "shardwise", "demo");
    }

    public static DemoModel ensure(Consumer<String> progress) throws IOException {
        return ensure(defaultCacheDir(), progress);
    }

    /** The cached demo model, trained first (400 AdamW steps, about 100 s of CPU time on one core) when the cache lacks it. */
    public static DemoModel ensure(Path cacheDir, Consumer<String> progress) throws IOException {
        return ensure(cacheDir, progress, DEFAULT);
    }

    static DemoModel ensure(Path cacheDir, Consumer<String> progress, Recipe recipe) throws IOException {
        SyntheticGrammar grammar = new SyntheticGrammar();
        LlamaConfig config = recipe.config(grammar);
        Path dir = cacheDir.resolve("demo-" + recipe.key());
        if (Files.isRegularFile(dir.resolve("demo.properties"))) return read(dir, config);
        Files.createDirectories(cacheDir);
        deleteStaleTemporaries(cacheDir);
        Path tmp = Files.createTempDirectory(cacheDir, ".tmp-" + dir.getFileName() + "-");
        try {
            build(tmp, grammar, recipe, progress);
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                // another process renamed its copy into place first: same settings, same files
                if (!Files.isRegularFile(dir.resolve("demo.properties"))) throw e;
                progress.accept("demo model: another process cached it first; using that one");
            }
        } finally {
            deleteTree(tmp);
        }
        return read(dir, config);
    }

    /** The demo model in {@code cacheDir} if it was made, without making it. */
    public static java.util.Optional<DemoModel> cached(Path cacheDir) throws IOException {
        SyntheticGrammar grammar = new SyntheticGrammar();
        Path dir = cacheDir.resolve("demo-" + DEFAULT.key());
        return Files.isRegularFile(dir.resolve("demo.properties")) ? java.util.Optional.of(read(dir, DEFAULT.config(grammar))) : java.util.Optional.empty();
    }

    private static void build(Path dir, SyntheticGrammar grammar, Recipe recipe, Consumer<String> progress) throws IOException {
        LlamaConfig config = recipe.config(grammar);
        LlamaPretraining.Settings training = recipe.training();
        progress.accept("demo model: generating " + recipe.trainTokens() + " training and " + recipe.evalTokens() + " held-out tokens from the story grammar");
        SyntheticGrammar.Corpus train = grammar.corpus(TRAIN_SEED, recipe.trainTokens());
        SyntheticGrammar.Corpus eval = grammar.corpus(EVAL_SEED, recipe.evalTokens());
        Files.writeString(dir.resolve("train.txt"), train.text());
        Files.writeString(dir.resolve("eval.txt"), eval.text());
        progress.accept(String.format("demo model: training dim %d, %d layers, %d heads (%d kv), vocab %d, %d steps of %d x %d tokens",
                config.dim(), config.nLayers(), config.nHeads(), config.nKvHeads(), config.vocabSize(), training.steps(), training.batch(), config.seqLen()));
        long t0 = System.nanoTime(), cpu0 = java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        LlamaPretraining.Result r = LlamaPretraining.train(config, grammar.vocabulary(), train.tokens(), training, m -> progress.accept("demo model: " + m));
        long millis = (System.nanoTime() - t0) / 1_000_000;
        // libtorch runs on this thread (one intra-op thread): its CPU time is the training's, whatever else the machine runs
        long cpuMillis = (java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - cpu0) / 1_000_000;
        Path bin = dir.resolve("demo.bin"), tok = dir.resolve("tok" + config.vocabSize() + ".bin");
        Llama2cCheckpointWriter.write(r.model(), bin);
        Files.write(tok, Llama2cTokenizerFile.write(grammar.vocabulary()));
        PerplexityResult ppl;
        try (Arena arena = Arena.ofShared()) { // shared: the runtime reads weights from its worker threads
            ppl = Perplexity.evaluateFile(Llama2cCheckpoint.read(bin, tok, arena), dir.resolve("eval.txt"), 0);
        }
        progress.accept(String.format("demo model: trained in %.1f s (%.1f s CPU); held-out NLL %.4f (ppl %.3f), entropy floor %.4f (ppl %.3f)",
                millis / 1e3, cpuMillis / 1e3, ppl.meanNll(), ppl.ppl(), eval.floor(), Math.exp(eval.floor())));
        Properties p = new Properties();
        p.setProperty("floor_nll", Double.toString(eval.floor()));
        p.setProperty("eval_nll", Double.toString(ppl.meanNll()));
        p.setProperty("eval_tokens", Long.toString(ppl.tokens()));
        p.setProperty("train_millis", Long.toString(millis));
        p.setProperty("train_cpu_millis", Long.toString(cpuMillis));
        p.setProperty("train_loss_first", Double.toString(r.firstLoss()));
        p.setProperty("train_loss_last", Double.toString(r.lastLoss()));
        p.setProperty("settings", "v" + VERSION + " " + recipe);
        try (Writer w = Files.newBufferedWriter(dir.resolve("demo.properties"))) {
            p.store(w, "shardwise demo model");
        }
    }

    private static DemoModel read(Path dir, LlamaConfig config) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(dir.resolve("demo.properties"))) {
            p.load(r);
        }
        return new DemoModel(dir.resolve("demo.bin"), dir.resolve("tok" + config.vocabSize() + ".bin"), dir.resolve("train.txt"),
                dir.resolve("eval.txt"), Double.parseDouble(p.getProperty("floor_nll")), Double.parseDouble(p.getProperty("eval_nll")),
                Long.parseLong(p.getProperty("train_millis")));
    }

    /** A killed run leaves its temporary directory behind; one untouched for a day is not being written. */
    private static void deleteStaleTemporaries(Path cacheDir) throws IOException {
        long cutoff = System.currentTimeMillis() - java.util.concurrent.TimeUnit.DAYS.toMillis(1);
        try (Stream<Path> s = Files.list(cacheDir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith(".tmp-demo-")).toList()) {
                if (Files.getLastModifiedTime(p).toMillis() < cutoff) deleteTree(p);
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
