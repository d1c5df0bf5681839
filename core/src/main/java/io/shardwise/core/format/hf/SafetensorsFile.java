package io.shardwise.core.format.hf;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A parsed {@code .safetensors} file (huggingface/safetensors format: u64 little-endian header length, JSON
 * header of {name: {dtype, shape, data_offsets}} and "__metadata__", then the byte buffer). The file is mapped
 * with FFM (no 2 GB limit) and tensors are views of it; the HF row-major shape [d0, ..., dk] becomes the ggml
 * shape {dk, ..., d0}. Every length and offset is checked before anything is allocated.
 */
public final class SafetensorsFile {
    /** The reference implementation's limit on the header (100 MB). */
    static final long MAX_HEADER = 100_000_000L;
    static final String METADATA = "__metadata__";
    static final ObjectMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** One header entry; offsets are relative to the byte buffer after the header. */
    public record Entry(String name, String dtype, long[] hfShape, long begin, long end) {
    }

    private final String source;
    private final Map<String, String> metadata;
    private final Map<String, Entry> entries;
    private final Map<String, Tensor> tensors;
    private final long dataOffset;

    private SafetensorsFile(String source, Map<String, String> metadata, Map<String, Entry> entries, Map<String, Tensor> tensors, long dataOffset) {
        this.source = source;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.entries = Collections.unmodifiableMap(entries);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.dataOffset = dataOffset;
    }

    /** Maps {@code file} into {@code arena} and parses it; tensors stay valid while the arena is open. */
    public static SafetensorsFile read(Path file, Arena arena) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            seg = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        }
        return parse(seg, file.toString());
    }

    /** The ggml type holding a safetensors dtype, or null when Shardwise has none for it. */
    public static GgmlType ggmlType(String dtype) {
        return switch (dtype) {
            case "F32" -> GgmlType.F32;
            case "F16" -> GgmlType.F16;
            case "BF16" -> GgmlType.BF16;
            case "F64" -> GgmlType.F64;
            case "I8" -> GgmlType.I8;
            case "I16" -> GgmlType.I16;
            case "I32" -> GgmlType.I32;
            case "I64" -> GgmlType.I64;
            default -> null;
        };
    }

    /** The safetensors dtype name of a dense ggml type. */
    public static String dtype(GgmlType type) {
        return switch (type) {
            case F32, F16, BF16, F64, I8, I16, I32, I64 -> type.name();
            default -> throw new IllegalArgumentException("safetensors has no dtype for " + type + " (write F32, F16 or BF16)");
        };
    }

    /** Parses safetensors bytes; {@code source} names the file in error messages. */
    public static SafetensorsFile parse(MemorySegment bytes, String source) throws ModelFormatException {
        long size = bytes.byteSize();
        if (size < 8) throw error(source, "header length", "file is truncated (" + size + " bytes): not a safetensors file");
        long n = bytes.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > MAX_HEADER) {
            throw error(source, "header length", Long.toUnsignedString(n) + " is absurd (must be 2 to " + MAX_HEADER + " bytes)");
        }
        if (n > size - 8) throw error(source, "header length", n + " runs past the end of the file (" + size + " bytes)");
        byte[] header = bytes.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8).stripTrailing());
        } catch (JacksonException e) {
            throw error(source, "header", "is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw error(source, "header", "must be a JSON object");
        long dataOffset = 8 + n;
        long dataBytes = size - dataOffset;
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (METADATA.equals(f.getKey())) {
                metadata = metadata(f.getValue(), source);
            } else {
                entries.put(f.getKey(), entry(f.getKey(), f.getValue(), dataBytes, source));
            }
        }
        checkOverlaps(entries, source);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries.values()) {
            long[] shape = new long[Math.max(1, e.hfShape().length)];
            shape[0] = 1;
            for (int d = 0; d < e.hfShape().length; d++) shape[d] = e.hfShape()[e.hfShape().length - 1 - d];
            tensors.put(e.name(), new Tensor(e.name(), ggmlType(e.dtype()), shape, bytes.asSlice(dataOffset + e.begin(), e.end() - e.begin())));
        }
        return new SafetensorsFile(source, metadata, entries, tensors, dataOffset);
    }

    private static Map<String, String> metadata(JsonNode node, String source) throws ModelFormatException {
        if (!node.isObject()) throw error(source, METADATA, "must be a JSON object of strings");
        Map<String, String> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            if (!f.getValue().isTextual()) throw error(source, METADATA + "." + f.getKey(), "must be a string, found " + f.getValue().getNodeType());
            m.put(f.getKey(), f.getValue().textValue());
        }
        return m;
    }

    private static Entry entry(String name, JsonNode node, long dataBytes, String source) throws ModelFormatException {
        String field = "tensor " + name;
        if (!node.isObject()) throw error(source, field, "must be a JSON object with dtype, shape and data_offsets");
        JsonNode dt = node.get("dtype");
        if (dt == null || !dt.isTextual()) throw error(source, field + " dtype", "is missing or not a string");
        String dtype = dt.textValue();
        GgmlType type = ggmlType(dtype);
        if (type == null) {
            throw error(source, field + " dtype", "'" + dtype + "' is unknown or not supported (supported: F32, F16, BF16, F64, I8, I16, I32, I64)");
        }
        JsonNode sh = node.get("shape");
        if (sh == null || !sh.isArray()) throw error(source, field + " shape", "is missing or not an array");
        if (sh.size() > 8) throw error(source, field + " shape", "has " + sh.size() + " dimensions (at most 8)");
        long[] shape = new long[sh.size()];
        long elements = 1;
        for (int d = 0; d < shape.length; d++) {
            JsonNode v = sh.get(d);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() <= 0) {
                throw error(source, field + " shape[" + d + "]", v + " is not a positive integer");
            }
            shape[d] = v.longValue();
            if (elements > Long.MAX_VALUE / 8 / shape[d]) throw error(source, field + " shape", "element count overflows 64 bits");
            elements *= shape[d];
        }
        JsonNode off = node.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2) throw error(source, field + " data_offsets", "must be an array [begin, end]");
        long[] be = new long[2];
        for (int i = 0; i < 2; i++) {
            JsonNode v = off.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) throw error(source, field + " data_offsets", off + " are not non-negative integers");
            be[i] = v.longValue();
        }
        if (be[1] < be[0]) throw error(source, field + " data_offsets", off + " end before begin");
        if (be[1] > dataBytes) {
            throw error(source, field + " data_offsets", off + " run past the end of the file (byte buffer has " + dataBytes + " bytes)");
        }
        long need = type.byteSize(shape.length == 0 ? new long[]{1} : reversed(shape));
        if (be[1] - be[0] != need) {
            throw error(source, field + " data_offsets", off + " span " + (be[1] - be[0]) + " bytes but " + dtype + java.util.Arrays.toString(shape) + " needs " + need);
        }
        return new Entry(name, dtype, shape, be[0], be[1]);
    }

    private static void checkOverlaps(Map<String, Entry> entries, String source) throws ModelFormatException {
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < sorted.size(); i++) {
            Entry a = sorted.get(i - 1), b = sorted.get(i);
            if (b.begin() < a.end()) {
                throw error(source, "tensor " + b.name() + " data_offsets", "[" + b.begin() + ", " + b.end() + "] overlap tensor " + a.name() + " [" + a.begin() + ", " + a.end() + "]");
            }
        }
    }

    static long[] reversed(long[] shape) {
        long[] r = new long[shape.length];
        for (int i = 0; i < shape.length; i++) r[i] = shape[shape.length - 1 - i];
        return r;
    }

    static ModelFormatException error(String source, String field, String what) {
        return new ModelFormatException(source + ": safetensors " + field + " " + what);
    }

    public String source() {
        return source;
    }

    /** The header's "__metadata__" (e.g. {"format": "pt"}). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Header entries in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** Tensors by HF name in header order, views into the mapped file, with ggml shapes. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** Byte offset of the byte buffer (8 + header length). */
    public long dataOffset() {
        return dataOffset;
    }
}
