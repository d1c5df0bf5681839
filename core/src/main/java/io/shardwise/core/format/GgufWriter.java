package io.shardwise.core.format;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes GGUF version 3 (little-endian): metadata of every type, tensor infos, then each tensor's bytes
 * padded to the alignment. Tensor bytes are produced and written one tensor at a time, so a model far
 * larger than the heap can be written. The file appears atomically (temp file, then rename).
 */
public final class GgufWriter {

    /** Produces one tensor's bytes when the writer reaches it; scratch memory is freed right after. */
    @FunctionalInterface
    public interface TensorSource {
        MemorySegment bytes(Arena scratch) throws IOException;
    }

    private record Entry(String name, GgmlType type, long[] shape, long size, TensorSource source) {
    }

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Entry> entries = new ArrayList<>();
    private final Set<String> names = new HashSet<>();

    public GgufWriter put(String key, GgufValue value) {
        if (key.isEmpty() || key.getBytes(StandardCharsets.UTF_8).length > GgufFile.MAX_KEY) throw new IllegalArgumentException("bad GGUF key '" + key + "'");
        metadata.put(key, value);
        return this;
    }

    public GgufWriter put(String key, String value) {
        return put(key, GgufValue.of(value));
    }

    /** Adds a tensor whose bytes are already at hand (a heap array or a view of a mapped file). */
    public GgufWriter tensor(Tensor t) {
        if (!(t.type() instanceof GgmlType g)) throw new IllegalArgumentException("tensor " + t.name() + ": " + t.type().typeName() + " has no GGUF type id");
        MemorySegment data = t.data();
        return tensor(t.name(), g, t.shape(), scratch -> data);
    }

    /** Adds a tensor whose bytes {@code source} makes when the writer gets to it. */
    public GgufWriter tensor(String name, GgmlType type, long[] shape, TensorSource source) {
        if (name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length > GgufFile.MAX_TENSOR_NAME) {
            throw new IllegalArgumentException("tensor name '" + name + "' must have 1 to " + GgufFile.MAX_TENSOR_NAME + " bytes");
        }
        if (shape.length < 1 || shape.length > GgufFile.MAX_DIMS) throw new IllegalArgumentException("tensor " + name + ": " + shape.length + " dimensions");
        if (!names.add(name)) throw new IllegalArgumentException("tensor " + name + " added twice");
        entries.add(new Entry(name, type, shape.clone(), type.byteSize(shape), source));
        return this;
    }

    private int alignment() {
        GgufValue a = metadata.get("general.alignment");
        if (a == null) return GgufFile.DEFAULT_ALIGNMENT;
        if (a instanceof GgufValue.Int i && i.type() == GgufValueType.UINT32 && i.value() > 0 && Long.bitCount(i.value()) == 1) return (int) i.value();
        throw new IllegalArgumentException("general.alignment must be a UINT32 power of two, got " + a);
    }

    /** The header: magic, version, counts, metadata, tensor infos and the padding up to the data section. */
    byte[] header() {
        int alignment = alignment();
        LeBytes h = new LeBytes();
        h.u32(GgufFile.MAGIC).u32(3).u64(entries.size()).u64(metadata.size());
        for (Map.Entry<String, GgufValue> kv : metadata.entrySet()) {
            h.string(kv.getKey()).u32(kv.getValue().type().id);
            GgufValue.encode(kv.getValue(), h);
        }
        long offset = 0;
        for (Entry e : entries) {
            h.string(e.name()).u32(e.shape().length);
            for (long d : e.shape()) h.u64(d);
            h.u32(e.type().id).u64(offset);
            offset = GgufFile.alignUp(offset + e.size(), alignment);
        }
        h.zeros((int) (GgufFile.alignUp(h.size(), alignment) - h.size()));
        return h.toArray();
    }

    /** Writes the file; on failure nothing is left at {@code file}. */
    public void write(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // not Files.createTempFile: its 0600 mode would make the model unreadable to other users; this honours the umask
        Path tmp = dir.resolve("." + file.getFileName() + "." + ProcessHandle.current().pid() + "." + System.nanoTime() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                writeFully(ch, ByteBuffer.wrap(header()));
                int alignment = alignment();
                byte[] pad = new byte[alignment];
                for (Entry e : entries) {
                    try (Arena scratch = Arena.ofConfined()) {
                        MemorySegment data = e.source().bytes(scratch);
                        if (data.byteSize() != e.size()) {
                            throw new IllegalStateException("tensor " + e.name() + ": " + e.type() + Arrays.toString(e.shape()) + " needs " + e.size() + " bytes, source gave " + data.byteSize());
                        }
                        for (long at = 0; at < data.byteSize(); at += 1 << 30) {
                            writeFully(ch, data.asSlice(at, Math.min(1L << 30, data.byteSize() - at)).asByteBuffer());
                        }
                    }
                    int padding = (int) (GgufFile.alignUp(e.size(), alignment) - e.size());
                    writeFully(ch, ByteBuffer.wrap(pad, 0, padding));
                }
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
