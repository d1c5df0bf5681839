package io.shardwise.core.format.hf;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.shardwise.core.format.GgufWriter;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
 * Writes dense safetensors (F32/F16/BF16...): the JSON header with data_offsets, padded with spaces so the byte
 * buffer starts 8-byte aligned, {@code __metadata__} {"format": "pt"}, then the tensors' bytes, produced and
 * written one tensor at a time so the model never sits whole in the heap. {@link #writeCheckpoint} splits into
 * shards of at most a given size with a {@code model.safetensors.index.json}, as transformers' save_pretrained does.
 */
public final class SafetensorsWriter {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private record Entry(String name, GgmlType type, long[] hfShape, long size, GgufWriter.TensorSource source) {
    }

    private final Map<String, String> metadata = new LinkedHashMap<>(Map.of("format", "pt"));
    private final List<Entry> entries = new ArrayList<>();
    private final Set<String> names = new HashSet<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a dense tensor under its HF name; its ggml shape {ne0, ne1} becomes the HF shape [ne1, ne0]. */
    public SafetensorsWriter tensor(String hfName, Tensor t) {
        if (!(t.type() instanceof GgmlType g)) throw new IllegalArgumentException("tensor " + t.name() + ": " + t.type().typeName() + " is not dense");
        MemorySegment data = t.data();
        return tensor(hfName, g, SafetensorsFile.reversed(t.shape()), scratch -> data);
    }

    /** Adds a tensor of HF shape {@code hfShape} whose bytes {@code source} makes when the writer gets to it. */
    public SafetensorsWriter tensor(String hfName, GgmlType type, long[] hfShape, GgufWriter.TensorSource source) {
        SafetensorsFile.dtype(type); // refuses block types
        if (hfName.isEmpty() || SafetensorsFile.METADATA.equals(hfName)) throw new IllegalArgumentException("bad tensor name '" + hfName + "'");
        if (!names.add(hfName)) throw new IllegalArgumentException("tensor " + hfName + " added twice");
        long size = type.byteSize(hfShape.length == 0 ? new long[]{1} : SafetensorsFile.reversed(hfShape));
        entries.add(new Entry(hfName, type, hfShape.clone(), size, source));
        return this;
    }

    /** Total tensor bytes. */
    public long dataBytes() {
        return entries.stream().mapToLong(Entry::size).sum();
    }

    /** Writes one file holding every tensor; on failure nothing is left at {@code file}. */
    public void write(Path file) throws IOException {
        write(file, entries);
    }

    /**
     * Writes the tensors into {@code dir}: one {@code model.safetensors} when they fit {@code maxShardBytes}
     * (or it is 0), else {@code model-0000i-of-0000n.safetensors} files plus the index. Returns the files written.
     */
    public List<Path> writeCheckpoint(Path dir, long maxShardBytes) throws IOException {
        Files.createDirectories(dir);
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long bytes = 0;
        for (Entry e : entries) {
            if (maxShardBytes > 0 && !current.isEmpty() && bytes + e.size() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(e);
            bytes += e.size();
        }
        shards.add(current);
        Files.deleteIfExists(dir.resolve(INDEX_FILE));
        if (shards.size() == 1) {
            Path f = dir.resolve(SINGLE_FILE);
            write(f, shards.get(0));
            return List.of(f);
        }
        List<Path> files = new ArrayList<>();
        ObjectNode index = SafetensorsFile.JSON.createObjectNode();
        index.putObject("metadata").put("total_size", dataBytes());
        ObjectNode map = index.putObject("weight_map");
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Path f = dir.resolve(name);
            write(f, shards.get(i));
            files.add(f);
            for (Entry e : shards.get(i)) map.put(e.name(), name);
        }
        Path idx = dir.resolve(INDEX_FILE);
        Files.writeString(idx, SafetensorsFile.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index) + "\n");
        files.add(idx);
        return files;
    }

    static byte[] header(Map<String, String> metadata, List<Entry> entries) {
        ObjectNode root = SafetensorsFile.JSON.createObjectNode();
        ObjectNode meta = root.putObject(SafetensorsFile.METADATA);
        metadata.forEach(meta::put);
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", SafetensorsFile.dtype(e.type()));
            ArrayNode shape = t.putArray("shape");
            for (long d : e.hfShape()) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + e.size());
            offset += e.size();
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] h = Arrays.copyOf(json, padded);
        Arrays.fill(h, json.length, padded, (byte) ' ');
        return h;
    }

    private void write(Path file, List<Entry> list) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve("." + file.getFileName() + "." + ProcessHandle.current().pid() + "." + System.nanoTime() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                byte[] header = header(metadata, list);
                writeFully(ch, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length));
                writeFully(ch, ByteBuffer.wrap(header));
                for (Entry e : list) {
                    try (Arena scratch = Arena.ofConfined()) {
                        MemorySegment data = e.source().bytes(scratch);
                        if (data.byteSize() != e.size()) {
                            throw new IllegalStateException("tensor " + e.name() + ": " + e.type() + Arrays.toString(e.hfShape()) + " needs " + e.size() + " bytes, source gave " + data.byteSize());
                        }
                        for (long at = 0; at < data.byteSize(); at += 1 << 30) {
                            writeFully(ch, data.asSlice(at, Math.min(1L << 30, data.byteSize() - at)).asByteBuffer());
                        }
                    }
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
