package io.shardwise.core.format;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads llama2.c checkpoints (run.c's legacy format): a header of seven int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means an unshared
 * classifier follows), then float32 tensors in llama2.c order. Tensors are views into the mapped file.
 */
public final class Llama2cCheckpoint {
    public static final int HEADER_BYTES = 28;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Llama2cCheckpoint() {
    }

    /** A tensor of the checkpoint: GGUF name, ggml shape and byte offset in the file. */
    public record Entry(String name, long[] shape, long offset) {
        long bytes() {
            long n = 4;
            for (long d : shape) n *= d;
            return n;
        }
    }

    public static LlamaConfig readConfig(MemorySegment file, String source) throws ModelFormatException {
        if (file.byteSize() < HEADER_BYTES) throw new ModelFormatException(source + ": llama2.c header is truncated (" + file.byteSize() + " bytes < 28)");
        int[] h = new int[7];
        for (int i = 0; i < 7; i++) h[i] = file.get(I32, 4L * i);
        String[] names = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
        for (int i = 0; i < 7; i++) {
            int v = i == 5 ? Math.abs(h[i]) : h[i];
            if (v <= 0 || v > (1 << 20)) throw new ModelFormatException(source + ": llama2.c header field " + names[i] + " = " + h[i] + " is out of range");
        }
        try {
            return new LlamaConfig(h[0], h[1], h[2], h[3], h[4], Math.abs(h[5]), h[6], 10000f, 1e-5f, h[5] > 0);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage());
        }
    }

    /** Lays out the checkpoint's tensors; checks that the file holds them all. */
    public static Map<String, Entry> layout(LlamaConfig c, long fileSize, String source) throws ModelFormatException {
        if (c.explicitHeadDim()) throw new ModelFormatException(source + ": llama2.c format cannot hold head_dim " + c.headDim() + " (it is always dim / n_heads = " + c.dim() + " / " + c.nHeads() + ")");
        Map<String, Entry> m = new LinkedHashMap<>();
        long[] off = {HEADER_BYTES};
        int L = c.nLayers(), dim = c.dim(), hid = c.hiddenDim(), kv = c.kvDim();
        java.util.function.BiConsumer<String, long[]> add = (name, shape) -> {
            Entry e = new Entry(name, shape, off[0]);
            m.put(name, e);
            off[0] += e.bytes();
        };
        add.accept(TensorNames.TOKEN_EMBD, new long[]{dim, c.vocabSize()});
        for (int l = 0; l < L; l++) add.accept(TensorNames.attnNorm(l), new long[]{dim});
        for (int l = 0; l < L; l++) add.accept(TensorNames.attnQ(l), new long[]{dim, dim});
        for (int l = 0; l < L; l++) add.accept(TensorNames.attnK(l), new long[]{dim, kv});
        for (int l = 0; l < L; l++) add.accept(TensorNames.attnV(l), new long[]{dim, kv});
        for (int l = 0; l < L; l++) add.accept(TensorNames.attnOutput(l), new long[]{dim, dim});
        for (int l = 0; l < L; l++) add.accept(TensorNames.ffnNorm(l), new long[]{dim});
        for (int l = 0; l < L; l++) add.accept(TensorNames.ffnGate(l), new long[]{dim, hid});
        for (int l = 0; l < L; l++) add.accept(TensorNames.ffnDown(l), new long[]{hid, dim});
        for (int l = 0; l < L; l++) add.accept(TensorNames.ffnUp(l), new long[]{dim, hid});
        add.accept(TensorNames.OUTPUT_NORM, new long[]{dim});
        off[0] += 2L * c.seqLen() * (c.headSize() / 2) * 4; // freq_cis_real and freq_cis_imag: unused, RoPE is recomputed
        if (!c.tiedEmbeddings()) add.accept(TensorNames.OUTPUT, new long[]{dim, c.vocabSize()});
        if (off[0] > fileSize) {
            throw new ModelFormatException(source + ": llama2.c file is truncated: the header needs " + off[0] + " bytes, the file has " + fileSize);
        }
        return m;
    }

    /** Bytes of a legacy checkpoint with this config: header, tensors and the unused freq_cis tables. */
    public static long fileSize(LlamaConfig c) {
        long dim = c.dim(), hid = c.hiddenDim(), kv = c.kvDim(), L = c.nLayers();
        long floats = dim * c.vocabSize() + L * (2 * dim + 2 * dim * dim + 2 * dim * kv + 3 * dim * hid) + dim
                + 2L * c.seqLen() * (c.headSize() / 2) + (c.tiedEmbeddings() ? 0 : dim * c.vocabSize());
        return HEADER_BYTES + 4 * floats;
    }

    /** Maps a checkpoint and its tokenizer file into a model; tensors stay in the mapped file. */
    public static LlamaModel read(Path checkpoint, Path tokenizer, Arena arena) throws IOException {
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(checkpoint, StandardOpenOption.READ)) {
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
        String src = checkpoint.toString();
        LlamaConfig c = readConfig(file, src);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry e : layout(c, file.byteSize(), src).values()) {
            tensors.put(e.name(), new Tensor(e.name(), GgmlType.F32, e.shape(), file.asSlice(e.offset(), e.bytes())));
        }
        Vocabulary v = Llama2cTokenizerFile.read(Files.readAllBytes(tokenizer), c.vocabSize(), tokenizer.toString());
        return new LlamaModel(c, v, tensors);
    }

    /** The tokenizer llama2.c keeps beside a checkpoint: an explicit path, else tokenizer.bin / tok&lt;vocab&gt;.bin in its folder. */
    public static Path findTokenizer(Path checkpoint, int vocabSize) throws ModelFormatException {
        Path dir = checkpoint.toAbsolutePath().getParent();
        for (String n : new String[]{"tok" + vocabSize + ".bin", "tokenizer.bin"}) {
            Path p = dir.resolve(n);
            if (Files.isRegularFile(p)) return p;
        }
        throw new ModelFormatException(checkpoint + ": no tokenizer beside it (looked for tok" + vocabSize + ".bin and tokenizer.bin)");
    }
}
