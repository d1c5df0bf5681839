package io.shardwise.cli;

import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Generator;
import io.shardwise.core.runtime.Kernels;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.runtime.LlamaWeights;
import io.shardwise.core.runtime.ParallelRows;
import io.shardwise.core.runtime.RowKernels;
import io.shardwise.core.runtime.Sampler.Sampling;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code shardwise generate --model M [--prompt P] [--steps N] [--temperature T] [--top-p P] [--seed S] [--threads N]}:
 * text from a model file, locally, as llama2.c's run.c generates it; then a line with prompt and generation speed.
 */
@Command(name = "generate", description = "Text generation with a model file, locally (greedy, temperature or top-p sampling).")
public final class GenerateCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "llama2.c .bin (tokenizer beside it) or GGUF")
    Path model;

    @Option(names = "--prompt", paramLabel = "TEXT", defaultValue = "", description = "text to continue (default: none, start from BOS)")
    String prompt;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "256", description = "positions to fill, BOS and prompt included (default ${DEFAULT-VALUE}, capped at the model's seq_len)")
    int steps;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0", description = "sampling temperature, 0 = greedy (default ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "0", description = "nucleus sampling mass in (0, 1); 0 or 1 = off (default ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "seed of the sampling draws (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--threads", paramLabel = "N", description = "threads for the forward pass (default: -Dshardwise.threads, else all processors)")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        EvalCommand.requireFile(model, "--model");
        if (steps <= 0) throw new IllegalArgumentException("--steps: must be positive, got " + steps);
        if (threads != null && threads <= 0) throw new IllegalArgumentException("--threads: must be positive, got " + threads);
        Sampling sampling;
        try {
            sampling = new Sampling(temperature, topP, seed);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException((temperature < 0 || Float.isNaN(temperature) ? "--temperature: " : "--top-p: ") + e.getMessage(), e);
        }
        try (Arena arena = Arena.ofShared()) { // shared: the forward pass reads the mapped weights from several threads
            LlamaModel m = ModelFiles.open(model, arena);
            ParallelRows parallel = threads == null ? ParallelRows.preferred() : ParallelRows.of(threads);
            LlamaRuntime rt = new LlamaRuntime(new LlamaWeights(m), Kernels.preferred(), RowKernels.preferred(), parallel);
            Generator.Generation g = Generator.of(m, rt).generate(prompt, steps, sampling);
            PrintWriter out = spec.commandLine().getOut();
            out.println(g.text());
            out.printf(Locale.ROOT, "prompt: %d tokens, %.1f tokens/s; generated: %d tokens, %.1f tokens/s (%d threads)%n",
                    g.promptTokens(), g.promptTokensPerSecond(), g.generatedTokens(), g.generatedTokensPerSecond(), rt.threads());
            out.flush();
            return 0;
        }
    }
}
