package io.shardwise.cli;

import io.shardwise.core.synth.SyntheticModel;
import io.shardwise.core.tensor.GgmlType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code shardwise synth --shape llama-3.2-1b --out m.gguf}: a model of a real shape with seeded random weights,
 * for scale tests. Weights go chunk by chunk into the file, so any size is written with a small heap.
 */
@Command(name = "synth", description = "Write a model of a real shape (llama-3.2-1b, llama-2-7b, stories260k-like) with seeded random weights, for scale tests.")
public final class SynthCommand implements Callable<Integer> {
    /** The types a synthetic model's matrices can be written in. */
    enum Type { F16, BF16, F32, Q8_0 }

    enum Format { GGUF, SAFETENSORS }

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--shape", required = true, paramLabel = "SHAPE", description = "llama-3.2-1b, llama-2-7b or stories260k-like")
    String shape;

    @Option(names = "--type", defaultValue = "F16", description = "type of the matrices: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}; norms stay F32)")
    Type type;

    @Option(names = "--format", defaultValue = "GGUF", description = "file format: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE})")
    Format format;

    @Option(names = "--out", required = true, paramLabel = "PATH", description = "the GGUF file to write, or for safetensors the Hugging Face model directory (config.json, tokenizer.json, *.safetensors)")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "random seed (default ${DEFAULT-VALUE}): the same seed writes the same file")
    long seed;

    @Override
    public Integer call() throws Exception {
        SyntheticModel.Shape s;
        try {
            s = SyntheticModel.Shape.parse(shape);
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--shape: " + e.getMessage());
        }
        GgmlType t = GgmlType.valueOf(type.name());
        if (format == Format.GGUF && Files.isDirectory(out)) throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--out: " + out + " is a directory");
        if (format == Format.SAFETENSORS && Files.exists(out) && !Files.isDirectory(out)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--out: " + out + " is a file; safetensors output is a model directory");
        }
        if (format == Format.SAFETENSORS && type == Type.Q8_0) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--type Q8_0: safetensors holds dense tensors (F32, F16, BF16)");
        }
        SyntheticModel model = new SyntheticModel(s.config, seed);
        System.err.println("synth: " + s + ": " + model.describe(t));
        long t0 = System.nanoTime();
        long bytes;
        if (format == Format.GGUF) {
            bytes = model.writeGguf(out, t, "synthetic " + s);
        } else {
            bytes = 0;
            for (Path f : model.writeSafetensors(out, t, "synthetic " + s)) bytes += Files.size(f);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "wrote %s (%s, %s %s, seed %d): %.2f GB in %.1f s (%.0f MB/s)%n",
                out, s, format.name().toLowerCase(Locale.ROOT), t, seed, bytes / 1e9, secs, bytes / 1e6 / secs);
        return 0;
    }
}
