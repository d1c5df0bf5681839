package io.shardwise.cli;

import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.KvCacheType;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code shardwise eval --model M --text T}: perplexity with the pinned protocol (whole text encoded
 * once, chunks of seq_len-1 tokens after BOS from an empty cache), locally, no services needed.
 * {@code --kv-cache int8,int4} scores the same text again with a KIVI-quantized KV cache per type and prints
 * the change against the float32 cache.
 */
@Command(name = "eval", description = "Perplexity of a model file on a text file (pinned protocol), locally.")
public final class EvalCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "llama2.c .bin (tokenizer beside it) or GGUF")
    Path model;

    @Option(names = "--text", required = true, paramLabel = "FILE", description = "UTF-8 text file to score")
    Path text;

    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "0", description = "score at most N tokens (0 = the whole file)")
    long maxTokens;

    @Option(names = "--kv-cache", split = ",", paramLabel = "TYPE",
            description = "also score with a quantized KV cache (KIVI): int8, int4, comma-separated; f32 is always scored")
    List<String> kvCache = new ArrayList<>();

    @Option(names = "--json", description = "print one JSON object {model, dataset, tokens, nll, ppl}; with --kv-cache one per KV type, "
            + "with kv_cache and f32_ppl")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<KvCacheType> kvTypes = kvTypes(kvCache);
        requireFile(model, "--model");
        requireFile(text, "--text");
        if (maxTokens < 0) throw new IllegalArgumentException("--max-tokens: must be >= 0, got " + maxTokens);
        try (Arena arena = Arena.ofShared()) { // shared: the runtime reads weights from its worker threads
            LlamaModel m = ModelFiles.open(model, arena);
            java.io.PrintWriter out = spec.commandLine().getOut();
            long t0 = System.nanoTime();
            PerplexityResult f32 = Perplexity.evaluateFile(m, text, maxTokens);
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (json && kvTypes.isEmpty()) {
                out.println(Json.eval(model.toString(), text.toString(), f32.tokens(), f32.meanNll(), f32.ppl()));
            } else if (json) {
                out.println(Json.eval(model.toString(), text.toString(), "f32", f32.tokens(), f32.meanNll(), f32.ppl(), f32.ppl()));
            } else {
                out.printf(Locale.ROOT, "%s on %s: %d tokens, mean NLL %.5f nats/token, ppl %.4f (%.1f s, %.0f tokens/s)%n",
                        model, text, f32.tokens(), f32.meanNll(), f32.ppl(), seconds, f32.tokens() / seconds);
            }
            out.flush();
            for (KvCacheType kv : kvTypes) {
                t0 = System.nanoTime();
                PerplexityResult r = Perplexity.evaluateFile(m, text, maxTokens, kv);
                seconds = (System.nanoTime() - t0) / 1e9;
                if (json) {
                    out.println(Json.eval(model.toString(), text.toString(), kv.label(), r.tokens(), r.meanNll(), r.ppl(), f32.ppl()));
                } else {
                    out.printf(Locale.ROOT, "%s on %s (kv %s): %d tokens, mean NLL %.5f nats/token, ppl %.4f, %+.3f%% vs f32 kv (%.1f s)%n",
                            model, text, kv.label(), r.tokens(), r.meanNll(), r.ppl(), 100 * (r.ppl() / f32.ppl() - 1), seconds);
                }
                out.flush();
            }
            return 0;
        }
    }

    /** {@code --kv-cache} values: int8 or int4 (f32 is always scored), none twice; a bad one is refused naming the option. */
    static List<KvCacheType> kvTypes(List<String> labels) {
        List<KvCacheType> out = new ArrayList<>();
        for (String label : labels) {
            KvCacheType t;
            try {
                t = KvCacheType.parse(label);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--kv-cache: '" + label + "' is not a KV-cache type (known: int8, int4)");
            }
            if (!t.quantized()) throw new IllegalArgumentException("--kv-cache: 'f32' is always scored; list int8 and/or int4");
            if (out.contains(t)) throw new IllegalArgumentException("--kv-cache: '" + t.label() + "' is listed twice");
            out.add(t);
        }
        return out;
    }

    static void requireFile(Path p, String option) throws NoSuchFileException {
        if (!Files.isRegularFile(p)) throw new NoSuchFileException(option + ": " + p + " is not a file");
    }
}
