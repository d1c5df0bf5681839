package io.shardwise.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code shardwise generate --model M [--steps N]}: greedy decoding from BOS, as llama2.c's run.c with temperature 0. */
@Command(name = "generate", description = "Greedy text generation from BOS with a model file, locally.")
public final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "llama2.c .bin (tokenizer beside it) or GGUF")
    Path model;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "256", description = "tokens to generate, BOS included (default ${DEFAULT-VALUE})")
    int steps;

    @Override
    public Integer call() throws Exception {
        EvalCommand.requireFile(model, "--model");
        if (steps <= 0) throw new IllegalArgumentException("--steps: must be positive, got " + steps);
        throw new UnsupportedOperationException("pending core runtime");
    }
}
