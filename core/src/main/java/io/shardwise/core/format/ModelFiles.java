package io.shardwise.core.format;

import io.shardwise.core.format.hf.HfConfig;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.core.format.hf.SafetensorsFile;
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
import java.util.List;

/**
 * Opens a model of any format Shardwise reads (GGUF, llama2.c, a Hugging Face directory, a .safetensors file with
 * config.json beside it), telling the format by its first bytes; writes GGUF, HF directories and llama2.c.
 */
public final class ModelFiles {
    /** llama2.c's versioned export ("ak42" as a little-endian uint32). */
    private static final int LLAMA2C_VERSIONED_MAGIC = 0x616b3432;

    public enum Format { GGUF, LLAMA2C, SAFETENSORS, HF_DIRECTORY }

    private ModelFiles() {
    }

    /** The file's format; throws naming the file when it is neither GGUF nor a legacy llama2.c checkpoint. */
    public static Format detect(Path file) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString(), null, "model file does not exist");
        if (Files.isDirectory(file)) {
            if (HfLlama.isModelDirectory(file)) return Format.HF_DIRECTORY;
            throw new ModelFormatException(file + ": a directory without " + HfConfig.FILE + " (not a Hugging Face model directory)");
        }
        if (file.getFileName().toString().endsWith(".safetensors.index.json") && HfLlama.isModelDirectory(file.toAbsolutePath().getParent())) {
            return Format.HF_DIRECTORY;
        }
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
        if (head.remaining() >= 9 && head.get(8) == '{') return Format.SAFETENSORS;
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
            case HF_DIRECTORY -> HfLlama.read(Files.isDirectory(file) ? file : file.toAbsolutePath().getParent(), arena);
            case SAFETENSORS -> {
                SafetensorsFile st = SafetensorsFile.read(file, arena);
                Path dir = file.toAbsolutePath().getParent();
                if (!Files.isRegularFile(dir.resolve(HfConfig.FILE))) {
                    throw new ModelFormatException(file + ": a safetensors file without " + HfConfig.FILE + " beside it (Shardwise needs the HF config and tokenizer.json)");
                }
                yield HfLlama.read(dir, st.tensors(), arena);
            }
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

    /** Writes {@code model} as a Hugging Face directory: config.json, tokenizer files, safetensors (sharded past {@code options.maxShardBytes}). */
    public static List<Path> writeSafetensors(LlamaModel model, Path dir, HfLlama.WriteOptions options) throws IOException {
        return HfLlama.write(model, dir, options);
    }

    /** Writes {@code model} as a llama2.c checkpoint with its tok&lt;vocab&gt;.bin beside it; only plain Llama with a SentencePiece vocabulary fits. */
    public static void writeLlama2c(LlamaModel model, Path bin) throws IOException {
        LlamaConfig c = model.config();
        if (!LlamaConfig.LLAMA.equals(c.arch()) || c.ropeNeox() || c.attentionBias() || c.ropeScaling().type() != io.shardwise.core.model.RopeScaling.Type.NONE) {
            throw new ModelFormatException(bin + ": llama2.c holds only plain Llama models (arch " + c.arch() + ", NEOX " + c.ropeNeox()
                    + ", biases " + c.attentionBias() + ", rope scaling " + c.ropeScaling().type() + ")");
        }
        if (model.vocabulary().kind() != io.shardwise.core.model.Vocabulary.Kind.SENTENCEPIECE) {
            throw new ModelFormatException(bin + ": llama2.c tokenizers are SentencePiece; this model's vocabulary is " + model.vocabulary().kind());
        }
        io.shardwise.core.train.Llama2cCheckpointWriter.write(model, bin);
        Path tok = bin.toAbsolutePath().getParent().resolve("tok" + c.vocabSize() + ".bin");
        Files.write(tok, Llama2cTokenizerFile.write(model.vocabulary()));
    }

    private static byte[] readHead(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            return in.readNBytes(Llama2cCheckpoint.HEADER_BYTES);
        }
    }
}
