package io.shardwise.cli;

import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Generator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code shardwise generate --model M [--steps N]}: greedy decoding from BOS, as llama2.c's run.c with temperature 0. */
@Command(name = "generate", description = "Greedy text generation from BOS with a model file, locally.")
public final class GenerateCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "llama2.c .bin (tokenizer beside it) or GGUF")
    Path model;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "256", description = "tokens to generate, BOS included (default ${DEFAULT-VALUE})")
    int steps;

    @Override
    public Integer call() throws Exception {
        EvalCommand.requireFile(model, "--model");
        if (steps <= 0) throw new IllegalArgumentException("--steps: must be positive, got " + steps);
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel m = ModelFiles.open(model, arena);
            spec.commandLine().getOut().println(Generator.greedy(m, steps));
            spec.commandLine().getOut().flush();
            return 0;
        }
    }
}
