package io.shardwise.cli;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code shardwise convert --in X --out Y [--format gguf|safetensors|llama2c] [--type T] [--max-shard-size BYTES]}: a
 * model from any format Shardwise reads (GGUF, llama2.c, HF directory or .safetensors) to GGUF, an HF directory
 * (config.json, tokenizer files, safetensors) or llama2.c; tensors are streamed one at a time.
 */
@Command(name = "convert", description = "Convert a model between GGUF, Hugging Face safetensors and llama2.c.")
public final class ConvertCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    public enum Target { gguf, safetensors, llama2c }

    @Option(names = "--in", required = true, paramLabel = "PATH", description = "GGUF, llama2.c .bin (tokenizer beside it), HF directory or .safetensors (config.json beside it)")
    Path in;

    @Option(names = "--out", required = true, paramLabel = "PATH", description = "output file (.gguf, .bin) or directory (safetensors)")
    Path out;

    @Option(names = "--format", paramLabel = "F", description = "gguf, safetensors or llama2c (default: from --out: .gguf, .bin, else safetensors)")
    Target format;

    @Option(names = "--type", paramLabel = "T", description = "GGUF: matrix type (F32, F16, BF16, Q8_0, Q4_0, ...); safetensors: F32, F16 or BF16 for every tensor (default: keep)")
    String type;

    @Option(names = "--max-shard-size", paramLabel = "BYTES", defaultValue = "0", description = "safetensors: split into shards of at most this many bytes with an index (default 0: one file)")
    long maxShardBytes;

    @Override
    public Integer call() throws Exception {
        if (!Files.exists(in)) throw new NoSuchFileException(in.toString(), null, "--in: does not exist");
        if (maxShardBytes < 0) throw new IllegalArgumentException("--max-shard-size: must be >= 0, got " + maxShardBytes);
        Target target = format != null ? format : inferred(out);
        GgmlType t = type == null ? null : parseType(type);
        if (target == Target.safetensors && t != null && t != GgmlType.F32 && t != GgmlType.F16 && t != GgmlType.BF16) {
            throw new IllegalArgumentException("--type: safetensors holds dense F32, F16 or BF16, not " + t);
        }
        if (target == Target.llama2c && t != null && t != GgmlType.F32) throw new IllegalArgumentException("--type: llama2.c holds F32 only, not " + t);
        PrintWriter pw = spec.commandLine().getOut();
        long t0 = System.nanoTime();
        try (Arena arena = Arena.ofConfined()) {
            ModelFiles.Format from = ModelFiles.detect(in);
            LlamaModel m = ModelFiles.open(in, arena);
            switch (target) {
                case gguf -> ModelFiles.write(m, out, new GgufLlama.WriteOptions(out.getFileName().toString().replaceFirst("\\.gguf$", ""), t));
                case safetensors -> ModelFiles.writeSafetensors(m, out, new HfLlama.WriteOptions(t, maxShardBytes));
                case llama2c -> {
                    Path parent = out.toAbsolutePath().getParent();
                    if (parent != null) Files.createDirectories(parent);
                    ModelFiles.writeLlama2c(m, out);
                }
            }
            pw.printf(Locale.ROOT, "converted %s (%s) -> %s (%s): %s %s, %d layers, %,d parameters, %d tensors in %.1f s%n", in, from.name().toLowerCase(Locale.ROOT),
                    out, target, m.config().arch(), m.vocabulary().kind().name().toLowerCase(Locale.ROOT), m.config().nLayers(), m.parameterCount(),
                    m.tensors().size(), (System.nanoTime() - t0) / 1e9);
            pw.flush();
        }
        return 0;
    }

    static Target inferred(Path out) {
        String n = out.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".gguf")) return Target.gguf;
        if (n.endsWith(".bin")) return Target.llama2c;
        return Target.safetensors;
    }

    static GgmlType parseType(String s) {
        try {
            return GgmlType.valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--type: unknown type '" + s + "' (one of " + Arrays.toString(GgmlType.values()) + ")");
        }
    }
}
