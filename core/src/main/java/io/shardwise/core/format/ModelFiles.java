package io.shardwise.core.format;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Opens a model file of any format Shardwise reads, telling the format by its first bytes; writes GGUF. */
public final class ModelFiles {
    /** llama2.c's versioned export ("ak42" as a little-endian uint32). */
    private static final int LLAMA2C_VERSIONED_MAGIC = 0x616b3432;

    public enum Format { GGUF, LLAMA2C }

    private ModelFiles() {
    }

    /** The file's format; throws naming the file when it is neither GGUF nor a legacy llama2.c checkpoint. */
    public static Format detect(Path file) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString(), null, "model file does not exist");
        if (!Files.isRegularFile(file)) throw new ModelFormatException(file + ": not a regular file");
        ByteBuffer head = ByteBuffer.allocate(Llama2cCheckpoint.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        long size;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            size = ch.size();
            while (head.hasRemaining() && ch.read(head) >= 0) {
                // read up to the llama2.c header size
            }
        }
        head.flip();
        if (head.remaining() >= 4 && head.getInt(0) == GgufFile.MAGIC) return Format.GGUF;
        if (head.remaining() >= 4 && head.getInt(0) == LLAMA2C_VERSIONED_MAGIC) {
            throw new ModelFormatException(file + ": a llama2.c versioned export (magic \"ak42\"); Shardwise reads the legacy export (export.py --version 0) and GGUF");
        }
        if (head.remaining() >= 9 && head.get(8) == '{') {
            throw new ModelFormatException(file + ": looks like safetensors, which Shardwise cannot read yet (GGUF and llama2.c checkpoints only)");
        }
        LlamaConfig c;
        try {
            c = Llama2cCheckpoint.readConfig(MemorySegment.ofBuffer(head), file.toString());
        } catch (ModelFormatException e) {
            throw new ModelFormatException(file + ": neither GGUF (no \"GGUF\" magic) nor a llama2.c checkpoint (" + e.getMessage() + ")", e);
        }
        long expected = Llama2cCheckpoint.fileSize(c);
        if (expected != size) {
            throw new ModelFormatException(file + ": neither GGUF (no \"GGUF\" magic) nor a llama2.c checkpoint: its llama2.c header ("
                    + c.dim() + " dim, " + c.nLayers() + " layers, vocab " + c.vocabSize() + ") needs " + expected + " bytes, the file has " + size
                    + (expected > size ? " (truncated?)" : ""));
        }
        return Format.LLAMA2C;
    }

    /** Reads a GGUF or llama2.c model (with its tokenizer found beside it); tensors are views of the mapped file. */
    public static LlamaModel open(Path file, Arena arena) throws IOException {
        return switch (detect(file)) {
            case GGUF -> GgufLlama.read(file, arena);
            case LLAMA2C -> {
                MemorySegment head = MemorySegment.ofArray(readHead(file));
                LlamaConfig c = Llama2cCheckpoint.readConfig(head, file.toString());
                yield Llama2cCheckpoint.read(file, Llama2cCheckpoint.findTokenizer(file, c.vocabSize()), arena);
            }
        };
    }

    /** Writes {@code model} as a GGUF file that llama.cpp loads. */
    public static void write(LlamaModel model, Path file, GgufLlama.WriteOptions options) throws IOException {
        GgufLlama.write(model, file, options);
    }

    private static byte[] readHead(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            return in.readNBytes(Llama2cCheckpoint.HEADER_BYTES);
        }
    }
}
