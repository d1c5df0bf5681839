package io.shardwise.core.format;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodec;
import io.shardwise.core.tensor.TensorCodecs;

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
 * padded to the alignment. Tensor bytes are produced and written one tensor at a time, or piece by piece
 * for a {@link TensorStream}, so a model far larger than memory can be written. Pages of mapped sources
 * are released once written. The file appears atomically (temp file, then rename).
 */
public final class GgufWriter {
    /** Bytes handed to the file channel at once (a heap piece is copied into a per-thread direct buffer of its size). */
    static final int PIECE = 1 << 20;
    /** Floats converted at once by {@link #tensor(Tensor, GgmlType)}. */
    private static final int CHUNK_FLOATS = 1 << 18;

    /** Produces one tensor's bytes when the writer reaches it; scratch memory is freed right after. */
    @FunctionalInterface
    public interface TensorSource {
        MemorySegment bytes(Arena scratch) throws IOException;
    }

    /** Produces one tensor's bytes in order, piece by piece, into {@code sink} when the writer reaches it. */
    @FunctionalInterface
    public interface TensorStream {
        void writeTo(Sink sink) throws IOException;
    }

    /** Where a {@link TensorStream} puts its pieces; a piece may be reused once {@code write} returns. */
    @FunctionalInterface
    public interface Sink {
        void write(MemorySegment piece) throws IOException;
    }

    private record Entry(String name, GgmlType type, long[] shape, long size, TensorStream stream) {
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
        return stream(t.name(), g, t.shape(), sink -> sink.write(data));
    }

    /** Adds a tensor whose bytes {@code source} makes when the writer gets to it. */
    public GgufWriter tensor(String name, GgmlType type, long[] shape, TensorSource source) {
        return stream(name, type, shape, sink -> {
            try (Arena scratch = Arena.ofConfined()) {
                sink.write(source.bytes(scratch));
            }
        });
    }

    /**
     * Adds {@code t} re-encoded as {@code target}, converted a bounded chunk of rows at a time while the
     * file is written (no buffer of the tensor's size, however large it is).
     */
    public GgufWriter tensor(Tensor t, GgmlType target) {
        if (t.type() == target) return tensor(t);
        TensorCodec from = TensorCodecs.codec(t.type());
        TensorCodec to = TensorCodecs.codec(target);
        int cols = t.cols();
        if (!target.fitsRow(cols)) throw new IllegalArgumentException("tensor " + t.name() + ": rows of " + cols + " do not fit " + target + " blocks");
        return stream(t.name(), target, t.shape(), sink -> {
            long rows = t.elements() / cols;
            long rowBytes = target.byteSize(new long[]{cols});
            long srcRowBytes = t.type().byteSize(new long[]{cols});
            int chunkRows = (int) Math.max(1, Math.min(rows, CHUNK_FLOATS / cols));
            float[] buf = new float[Math.multiplyExact(chunkRows, cols)];
            MemorySegment out = MemorySegment.ofArray(new byte[Math.toIntExact(chunkRows * rowBytes)]);
            for (long r = 0; r < rows; r += chunkRows) {
                int n = (int) Math.min(chunkRows, rows - r);
                from.dequantize(t.data(), r * cols, n * cols, cols, buf, 0);
                to.quantize(buf, 0, n * cols, cols, out, 0);
                sink.write(out.asSlice(0, n * rowBytes));
                long back = Math.max(0, r * srcRowBytes - (1 << 16)); // fault-around maps the 64 KiB window of a fault
                if (t.data().isMapped()) t.data().asSlice(back, (r + n) * srcRowBytes - back).unload();
            }
        });
    }

    /** Adds a tensor whose bytes {@code stream} writes, piece by piece, when the writer gets to it. */
    public GgufWriter stream(String name, GgmlType type, long[] shape, TensorStream stream) {
        if (name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length > GgufFile.MAX_TENSOR_NAME) {
            throw new IllegalArgumentException("tensor name '" + name + "' must have 1 to " + GgufFile.MAX_TENSOR_NAME + " bytes");
        }
        if (shape.length < 1 || shape.length > GgufFile.MAX_DIMS) throw new IllegalArgumentException("tensor " + name + ": " + shape.length + " dimensions");
        if (!names.add(name)) throw new IllegalArgumentException("tensor " + name + " added twice");
        entries.add(new Entry(name, type, shape.clone(), type.byteSize(shape), stream));
        return this;
    }

    /** Whether a tensor of this name was added. */
    public boolean has(String tensorName) {
        return names.contains(tensorName);
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
                    long[] written = {0};
                    e.stream().writeTo(piece -> {
                        if (written[0] + piece.byteSize() > e.size()) throw tooBig(e, written[0] + piece.byteSize());
                        writeSegment(ch, piece);
                        written[0] += piece.byteSize();
                    });
                    if (written[0] != e.size()) throw tooBig(e, written[0]);
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

    private static IllegalStateException tooBig(Entry e, long bytes) {
        return new IllegalStateException("tensor " + e.name() + ": " + e.type() + Arrays.toString(e.shape()) + " needs " + e.size() + " bytes, source gave " + bytes);
    }

    /** Writes a segment in bounded pieces; a mapped one's pages are released from this process once written. */
    static void writeSegment(FileChannel ch, MemorySegment data) throws IOException {
        for (long at = 0; at < data.byteSize(); at += PIECE) {
            MemorySegment piece = data.asSlice(at, Math.min(PIECE, data.byteSize() - at));
            writeFully(ch, piece.asByteBuffer());
            // released from 64 KiB back: the kernel's fault-around maps the aligned 64 KiB window of a fault
            if (piece.isMapped()) data.asSlice(Math.max(0, at - (1 << 16)), Math.min(at, 1 << 16) + piece.byteSize()).unload();
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
