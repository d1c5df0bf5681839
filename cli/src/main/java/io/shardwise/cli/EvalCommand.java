package io.shardwise.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

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
        throw new UnsupportedOperationException("pending core runtime");
    }

    static void requireFile(Path p, String option) throws NoSuchFileException {
        if (!Files.isRegularFile(p)) throw new NoSuchFileException(option + ": " + p + " is not a file");
    }
}
