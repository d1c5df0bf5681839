package io.shardwise.cli;

import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code shardwise eval --model M --text T}: perplexity with the pinned protocol (whole text encoded
 * once, chunks of seq_len-1 tokens after BOS from an empty cache), locally, no services needed.
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

    @Option(names = "--json", description = "print one JSON object {model, dataset, tokens, nll, ppl}")
    boolean json;

    @Override
    public Integer call() throws Exception {
        requireFile(model, "--model");
        requireFile(text, "--text");
        if (maxTokens < 0) throw new IllegalArgumentException("--max-tokens: must be >= 0, got " + maxTokens);
        try (Arena arena = Arena.ofShared()) { // shared: the runtime reads weights from its worker threads
            LlamaModel m = ModelFiles.open(model, arena);
            long t0 = System.nanoTime();
            PerplexityResult r = Perplexity.evaluateFile(m, text, maxTokens);
            double seconds = (System.nanoTime() - t0) / 1e9;
            java.io.PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(Json.eval(model.toString(), text.toString(), r.tokens(), r.meanNll(), r.ppl()));
            } else {
                out.printf(Locale.ROOT, "%s on %s: %d tokens, mean NLL %.5f nats/token, ppl %.4f (%.1f s, %.0f tokens/s)%n",
                        model, text, r.tokens(), r.meanNll(), r.ppl(), seconds, r.tokens() / seconds);
            }
            out.flush();
            return 0;
        }
    }

    static void requireFile(Path p, String option) throws NoSuchFileException {
        if (!Files.isRegularFile(p)) throw new NoSuchFileException(option + ": " + p + " is not a file");
    }
}
