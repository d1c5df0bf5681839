package io.shardwise.core.synth;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.GgufValue;
import io.shardwise.core.format.GgufWriter;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.quant.TensorConverter;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Models of real shapes with seeded random weights, for scale tests ({@code shardwise synth}). Weights are made a
 * chunk of rows at a time straight into the file, so writing a 7B model needs a few megabytes of heap.
 */
public final class SyntheticModel {
    /** Floats generated and encoded at once. */
    private static final int CHUNK_FLOATS = 1 << 18;
    /** llama.cpp's tensor of Llama 3 RoPE frequency factors. */
    static final String ROPE_FREQS = "rope_freqs.weight";
    /** transformers' default max_shard_size ("5GB"). */
    static final long HF_SHARD_BYTES = 5_000_000_000L;

    /** The shapes {@code synth} knows, by their command-line names. */
    public enum Shape {
        /** Llama 3.2 1B: GQA 32/8, tied embeddings, vocab 128256, Llama 3 RoPE scaling. */
        LLAMA_3_2_1B("llama-3.2-1b", new LlamaConfig(2048, 8192, 16, 32, 8, 128256, 131072, 500000f, 1e-5f, true,
                LlamaConfig.LLAMA, false, RopeScaling.llama3(32f, 1f, 4f, 8192), false)),
        /** Llama 2 7B: MHA 32 heads, untied output, vocab 32000. */
        LLAMA_2_7B("llama-2-7b", new LlamaConfig(4096, 11008, 32, 32, 32, 32000, 4096, 10000f, 1e-5f, false)),
        /** The shape of llama2.c's stories260K (dim 64, GQA 8/4, hidden 172, vocab 512, tied). */
        STORIES260K_LIKE("stories260k-like", new LlamaConfig(64, 172, 5, 8, 4, 512, 512, 10000f, 1e-5f, true));

        public final String cliName;
        public final LlamaConfig config;

        Shape(String cliName, LlamaConfig config) {
            this.cliName = cliName;
            this.config = config;
        }

        public static Shape parse(String name) {
            for (Shape s : values()) if (s.cliName.equalsIgnoreCase(name.trim())) return s;
            throw new IllegalArgumentException("unknown shape '" + name + "' (known: " + Arrays.stream(values()).map(s -> s.cliName).toList() + ")");
        }

        @Override
        public String toString() {
            return cliName;
        }
    }

    /** One tensor of the model: GGUF name, ggml shape, and whether it is a norm (1-D, kept F32 as llama.cpp does). */
    public record TensorSpec(String name, long[] shape, boolean norm) {
        public int cols() {
            return Math.toIntExact(shape[0]);
        }

        public long rows() {
            return shape.length == 1 ? 1 : shape[1];
        }
    }

    private final LlamaConfig config;
    private final SyntheticWeights weights;

    public SyntheticModel(LlamaConfig config, long seed) {
        this.config = config;
        this.weights = new SyntheticWeights(seed);
    }

    public LlamaConfig config() {
        return config;
    }

    public Vocabulary vocabulary() {
        return SyntheticVocabulary.of(config.vocabSize());
    }

    /** Every tensor of a Llama model of this config, in llama.cpp's order. */
    public Map<String, TensorSpec> tensors() {
        Map<String, TensorSpec> m = new LinkedHashMap<>();
        long dim = config.dim(), qd = config.qDim(), hid = config.hiddenDim(), kv = config.kvDim(), vocab = config.vocabSize();
        put(m, TensorNames.TOKEN_EMBD, false, dim, vocab);
        for (int l = 0; l < config.nLayers(); l++) {
            put(m, TensorNames.attnNorm(l), true, dim);
            put(m, TensorNames.attnQ(l), false, dim, qd);
            put(m, TensorNames.attnK(l), false, dim, kv);
            put(m, TensorNames.attnV(l), false, dim, kv);
            put(m, TensorNames.attnOutput(l), false, qd, dim);
            put(m, TensorNames.ffnNorm(l), true, dim);
            put(m, TensorNames.ffnGate(l), false, dim, hid);
            put(m, TensorNames.ffnDown(l), false, hid, dim);
            put(m, TensorNames.ffnUp(l), false, dim, hid);
        }
        put(m, TensorNames.OUTPUT_NORM, true, dim);
        if (!config.tiedEmbeddings()) put(m, TensorNames.OUTPUT, false, dim, vocab);
        return m;
    }

    private static void put(Map<String, TensorSpec> m, String name, boolean norm, long... shape) {
        m.put(name, new TensorSpec(name, shape, norm));
    }

    /** The type a tensor is stored in: norms F32; matrices {@code type}, or F16 where their rows do not fit its blocks. */
    public static GgmlType storageType(TensorSpec t, GgmlType type) {
        return t.norm() ? GgmlType.F32 : TensorConverter.storableType(type, t.shape()[0]);
    }

    /** Writes the model as GGUF, matrices in {@code type}; returns the bytes of tensor data written. */
    public long writeGguf(Path file, GgmlType type, String name) throws IOException {
        Vocabulary vocab = vocabulary();
        // the metadata (hyper-parameters, vocabulary) as GgufLlama writes it for any model; the tensors are streamed here
        GgufWriter w = GgufLlama.writer(new LlamaModel(config, vocab, Map.of()), GgufLlama.WriteOptions.keepTypes(name));
        long bytes = 0;
        for (TensorSpec t : tensors().values()) {
            GgmlType stored = storageType(t, type);
            w.stream(t.name(), stored, t.shape(), sink -> writeRows(t, stored, sink));
            bytes += stored.byteSize(t.shape());
        }
        if (config.ropeScaling().type() == RopeScaling.Type.LLAMA3 && !w.has(ROPE_FREQS)) {
            float[] factors = ropeFactors(config);
            w.stream(ROPE_FREQS, GgmlType.F32, new long[]{factors.length}, sink -> {
                MemorySegment seg = MemorySegment.ofArray(new byte[factors.length * 4]);
                TensorCodecs.codec(GgmlType.F32).quantize(factors, 0, factors.length, factors.length, seg, 0);
                sink.write(seg);
            });
        }
        w.put("general.file_type", GgufValue.u32(fileType(type)));
        if (type.isQuantized()) w.put("general.quantization_version", GgufValue.u32(2));
        w.put("general.description", "synthetic: seeded random weights for scale tests (shardwise synth)");
        w.write(file);
        return bytes;
    }

    /**
     * Writes the model as a Hugging Face directory ({@code config.json}, {@code tokenizer.json}, safetensors in
     * files of at most 5 GB as transformers saves them) with dense {@code dtype} tensors: the GGUF this seed gives
     * is written beside it first and converted tensor by tensor ({@link HfLlama#write}, q/k un-permuted as
     * llama.cpp's converter expects), so reading the directory back gives exactly the GGUF's tensors.
     */
    public List<Path> writeSafetensors(Path dir, GgmlType dtype, String name) throws IOException {
        if (dtype != GgmlType.F32 && dtype != GgmlType.F16 && dtype != GgmlType.BF16) {
            throw new IllegalArgumentException("safetensors holds dense tensors: F32, F16 or BF16, not " + dtype);
        }
        Files.createDirectories(dir);
        Path gguf = dir.resolve(".synth-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + ".gguf");
        try {
            writeGguf(gguf, dtype, name);
            try (Arena arena = Arena.ofShared()) {
                LlamaModel read = GgufLlama.read(gguf, arena);
                // this config, not the one read back: it carries the Llama 3 rope scaling into config.json
                return HfLlama.write(new LlamaModel(config, read.vocabulary(), read.tensors()), dir, new HfLlama.WriteOptions(dtype, HF_SHARD_BYTES));
            }
        } finally {
            Files.deleteIfExists(gguf);
        }
    }

    /** Generates the tensor's rows a chunk at a time, encodes them in {@code type} and hands each chunk to {@code sink}. */
    public void writeRows(TensorSpec t, GgmlType type, GgufWriter.Sink sink) throws IOException {
        TensorCodec codec = TensorCodecs.codec(type);
        int cols = t.cols();
        long rows = t.rows();
        long rowBytes = type.byteSize(new long[]{cols});
        int chunkRows = (int) Math.max(1, Math.min(rows, CHUNK_FLOATS / cols));
        float[] buf = new float[Math.multiplyExact(chunkRows, cols)];
        MemorySegment out = MemorySegment.ofArray(new byte[Math.toIntExact(chunkRows * rowBytes)]);
        for (long r = 0; r < rows; r += chunkRows) {
            int n = (int) Math.min(chunkRows, rows - r);
            weights.fill(t.name(), t.norm(), r, n, cols, buf);
            codec.quantize(buf, 0, n * cols, cols, out, 0);
            sink.write(out.asSlice(0, n * rowBytes));
        }
    }

    /** llama.cpp's rope_freqs for Llama 3 scaling: per rotary pair, the unscaled over the scaled frequency. */
    static float[] ropeFactors(LlamaConfig c) {
        int hs = c.headSize();
        float[] f = new float[hs / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) (Math.pow(c.ropeTheta(), -2.0 * i / hs) / c.ropeScaling().frequency(i, hs, c.ropeTheta()));
        }
        return f;
    }

    /** llama.cpp's general.file_type (enum llama_ftype) for the types synth writes. */
    static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8_0 -> 7;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("synth writes F32, F16, BF16 or Q8_0, not " + type);
        };
    }

    /** A one-line summary: shape, parameters and the bytes a file of {@code type} holds. */
    public String describe(GgmlType type) {
        long params = 0, bytes = 0;
        for (TensorSpec t : tensors().values()) {
            long n = 1;
            for (long d : t.shape()) n *= d;
            params += n;
            bytes += storageType(t, type).byteSize(t.shape());
        }
        return String.format(Locale.ROOT, "dim %d, hidden %d, %d layers, %d/%d heads, vocab %d, %s embeddings: %.3f B parameters, %.2f GB of %s tensors",
                config.dim(), config.hiddenDim(), config.nLayers(), config.nHeads(), config.nKvHeads(), config.vocabSize(),
                config.tiedEmbeddings() ? "tied" : "untied", params / 1e9, bytes / 1e9, type);
    }
}
