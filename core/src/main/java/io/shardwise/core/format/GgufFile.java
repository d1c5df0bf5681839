package io.shardwise.core.format;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A parsed GGUF file (ggml docs/gguf.md, versions 2 and 3, little-endian): metadata, tensor infos and
 * tensors as views into the mapped file (no copy, no 2 GB limit). Every count, length and offset is
 * checked against the bytes actually there before anything is allocated.
 */
public final class GgufFile {
    public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    public static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_NAME is 64 including the terminating NUL. */
    public static final int MAX_TENSOR_NAME = 63;
    static final int MAX_DIMS = 4;
    /** Far above any real model (thousands of tensors), low enough that a corrupt count cannot exhaust the heap. */
    static final long MAX_TENSORS = 1 << 20;
    static final long MAX_KVS = 1 << 20;
    static final int MAX_KEY = 65535;

    /** One tensor's header entry; {@code offset} is relative to the start of the data section. */
    public record TensorInfo(String name, GgmlType type, long[] shape, long offset) {
    }

    private final String source;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final List<TensorInfo> infos;
    private final Map<String, Tensor> tensors;
    private final int alignment;
    private final long dataOffset;

    private GgufFile(String source, int version, Map<String, GgufValue> metadata, List<TensorInfo> infos,
                     Map<String, Tensor> tensors, int alignment, long dataOffset) {
        this.source = source;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.infos = List.copyOf(infos);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.alignment = alignment;
        this.dataOffset = dataOffset;
    }

    /** Maps {@code file} into {@code arena} and parses it; tensors stay valid while the arena is open. */
    public static GgufFile read(Path file, Arena arena) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            seg = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        }
        return parse(seg, file.toString());
    }

    /** Parses GGUF bytes; {@code source} names the file in error messages. */
    public static GgufFile parse(MemorySegment bytes, String source) throws ModelFormatException {
        GgufCursor c = new GgufCursor(bytes, source);
        if (bytes.byteSize() < 4) throw c.error("magic", "file is truncated (" + bytes.byteSize() + " bytes): not a GGUF file");
        long magic = c.u32("magic");
        if (magic != MAGIC) throw c.error("magic", String.format("expected \"GGUF\" (0x%08x), found 0x%08x: not a GGUF file", MAGIC, magic));
        long version = c.u32("version");
        if (version != 2 && version != 3) {
            long swapped = Integer.reverseBytes((int) version) & 0xffffffffL;
            String why = swapped == 2 || swapped == 3 ? "big-endian GGUF is not supported"
                    : version == 1 ? "version 1 (32-bit counts) is not supported" : "unsupported version";
            throw c.error("version", version + ": " + why + " (this reader takes little-endian versions 2 and 3)");
        }
        long nTensors = c.u64("tensor_count");
        if (nTensors < 0 || nTensors > MAX_TENSORS || nTensors > c.remaining() / 24) {
            throw c.error("tensor_count", Long.toUnsignedString(nTensors) + " is absurd for a file of " + bytes.byteSize() + " bytes (limit " + MAX_TENSORS + ")");
        }
        long nKv = c.u64("metadata_kv_count");
        if (nKv < 0 || nKv > MAX_KVS || nKv > c.remaining() / 13) {
            throw c.error("metadata_kv_count", Long.toUnsignedString(nKv) + " is absurd for a file of " + bytes.byteSize() + " bytes (limit " + MAX_KVS + ")");
        }
        Map<String, GgufValue> meta = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            String key = c.string("metadata key #" + i, MAX_KEY);
            long typeId = c.u32("metadata " + key + " type");
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) throw c.error("metadata " + key, "unknown value type id " + typeId);
            GgufValue v = c.value(type, "metadata " + key);
            if (meta.put(key, v) != null) throw c.error("metadata " + key, "key appears twice");
        }
        int alignment = alignment(meta.get("general.alignment"), c);
        List<TensorInfo> infos = new ArrayList<>((int) nTensors);
        Map<String, TensorInfo> byName = new LinkedHashMap<>();
        for (long i = 0; i < nTensors; i++) {
            TensorInfo ti = tensorInfo(c, i, alignment);
            if (byName.put(ti.name(), ti) != null) throw c.error("tensor " + ti.name(), "name appears twice");
            infos.add(ti);
        }
        long dataOffset = alignUp(c.position(), alignment);
        long dataBytes = bytes.byteSize() - dataOffset;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (TensorInfo ti : infos) {
            long size;
            try {
                size = ti.type().byteSize(ti.shape());
            } catch (IllegalArgumentException | ArithmeticException e) {
                throw c.error("tensor " + ti.name(), "shape " + Arrays.toString(ti.shape()) + " does not fit type " + ti.type() + ": " + e.getMessage());
            }
            if (dataBytes < 0 || ti.offset() > dataBytes || size > dataBytes - ti.offset()) {
                throw c.error("tensor " + ti.name(), "data at offset " + ti.offset() + " + " + size + " bytes runs past the end of the file (data section has "
                        + Math.max(0, dataBytes) + " bytes)");
            }
            tensors.put(ti.name(), new Tensor(ti.name(), ti.type(), ti.shape(), bytes.asSlice(dataOffset + ti.offset(), size)));
        }
        return new GgufFile(source, (int) version, meta, infos, tensors, alignment, dataOffset);
    }

    private static int alignment(GgufValue v, GgufCursor c) throws ModelFormatException {
        if (v == null) return DEFAULT_ALIGNMENT;
        if (!(v instanceof GgufValue.Int i) || i.type() != GgufValueType.UINT32) {
            throw c.error("metadata general.alignment", "must be a UINT32, found " + v.type());
        }
        long a = i.value();
        if (a <= 0 || a > (1 << 16) || Long.bitCount(a) != 1) throw c.error("metadata general.alignment", a + " is not a power of two up to 65536");
        return (int) a;
    }

    private static TensorInfo tensorInfo(GgufCursor c, long i, int alignment) throws ModelFormatException {
        String name = c.string("tensor #" + i + " name", MAX_TENSOR_NAME);
        long nDims = c.u32("tensor " + name + " n_dims");
        if (nDims < 1 || nDims > MAX_DIMS) throw c.error("tensor " + name + " n_dims", nDims + " is not between 1 and " + MAX_DIMS);
        long[] shape = new long[(int) nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++) {
            shape[d] = c.u64("tensor " + name + " ne[" + d + "]");
            if (shape[d] <= 0) throw c.error("tensor " + name + " ne[" + d + "]", Long.toUnsignedString(shape[d]) + " is not a positive dimension");
            if (elements > Long.MAX_VALUE / shape[d]) throw c.error("tensor " + name + " shape", "element count overflows 64 bits");
            elements *= shape[d];
        }
        long typeId = c.u32("tensor " + name + " type");
        GgmlType type = null;
        for (GgmlType t : GgmlType.values()) if (t.id == typeId) type = t;
        if (type == null) {
            throw c.error("tensor " + name + " type", "ggml type id " + typeId + " is unknown or not supported (supported: " + Arrays.toString(GgmlType.values()) + ")");
        }
        long offset = c.u64("tensor " + name + " offset");
        if (offset < 0 || offset % alignment != 0) {
            throw c.error("tensor " + name + " offset", Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment);
        }
        return new TensorInfo(name, type, shape, offset);
    }

    static long alignUp(long pos, long alignment) {
        return (pos + alignment - 1) / alignment * alignment;
    }

    public String source() {
        return source;
    }

    public int version() {
        return version;
    }

    public int alignment() {
        return alignment;
    }

    /** Byte offset of the data section (tensor offsets are relative to it). */
    public long dataOffset() {
        return dataOffset;
    }

    /** Absolute byte offset of a tensor's data in the file, for readers that seek instead of mapping. */
    public long fileOffset(String tensor) {
        for (TensorInfo ti : infos) if (ti.name().equals(tensor)) return dataOffset + ti.offset();
        throw new IllegalArgumentException(source + " has no tensor " + tensor);
    }

    /** Metadata in file order. */
    public Map<String, GgufValue> metadata() {
        return metadata;
    }

    public List<TensorInfo> tensorInfos() {
        return infos;
    }

    /** Tensors in file order, views into the mapped file. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    public String string(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (v instanceof GgufValue.Str s) return s.value();
        throw wrongType(key, v, "a STRING");
    }

    /** An integer of any GGUF integer type, checked to lie in [min, max]. */
    public long integer(String key, long min, long max) throws ModelFormatException {
        GgufValue v = require(key);
        if (!(v instanceof GgufValue.Int i)) throw wrongType(key, v, "an integer");
        boolean unsignedHuge = i.type() == GgufValueType.UINT64 && i.value() < 0;
        if (unsignedHuge || i.value() < min || i.value() > max) {
            throw new ModelFormatException(source + ": GGUF metadata " + key + " = " + (unsignedHuge ? Long.toUnsignedString(i.value()) : i.value())
                    + " is out of range [" + min + ", " + max + "]");
        }
        return i.value();
    }

    public long integer(String key, long min, long max, long fallback) throws ModelFormatException {
        return has(key) ? integer(key, min, max) : fallback;
    }

    /** A float of either GGUF float type (integers are accepted too). */
    public double real(String key, double fallback) throws ModelFormatException {
        if (!has(key)) return fallback;
        return real(key);
    }

    public double real(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (v instanceof GgufValue.Real r) return r.value();
        if (v instanceof GgufValue.Int i) return i.value();
        throw wrongType(key, v, "a number");
    }

    public GgufValue.Array array(String key, GgufValueType elementType) throws ModelFormatException {
        GgufValue v = require(key);
        if (v instanceof GgufValue.Array a && (a.elementType() == elementType || elementType == null)) return a;
        throw wrongType(key, v, "an array of " + elementType);
    }

    private GgufValue require(String key) throws ModelFormatException {
        GgufValue v = metadata.get(key);
        if (v == null) throw new ModelFormatException(source + ": GGUF metadata " + key + " is missing");
        return v;
    }

    private ModelFormatException wrongType(String key, GgufValue v, String wanted) {
        String found = v instanceof GgufValue.Array a ? "an array of " + a.elementType() : v.type().toString();
        return new ModelFormatException(source + ": GGUF metadata " + key + " should be " + wanted + ", found " + found);
    }
}
