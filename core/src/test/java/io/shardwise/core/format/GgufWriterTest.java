package io.shardwise.core.format;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GgufWriter and GgufFile against each other: every metadata type, alignment, tensor types, lazily made tensors. */
class GgufWriterTest {
    @TempDir
    Path tmp;

    @Test
    void everyMetadataTypeRoundTrips() throws Exception {
        Map<String, GgufValue> values = new java.util.LinkedHashMap<>();
        values.put("u8", new GgufValue.Int(GgufValueType.UINT8, 255));
        values.put("i8", new GgufValue.Int(GgufValueType.INT8, -128));
        values.put("u16", new GgufValue.Int(GgufValueType.UINT16, 65535));
        values.put("i16", new GgufValue.Int(GgufValueType.INT16, -32768));
        values.put("u32", new GgufValue.Int(GgufValueType.UINT32, 4294967295L));
        values.put("i32", new GgufValue.Int(GgufValueType.INT32, Integer.MIN_VALUE));
        values.put("u64", new GgufValue.Int(GgufValueType.UINT64, -1L)); // 2^64 - 1 as raw bits
        values.put("i64", new GgufValue.Int(GgufValueType.INT64, Long.MIN_VALUE));
        values.put("f32", new GgufValue.Real(GgufValueType.FLOAT32, -0.0f));
        values.put("f64", new GgufValue.Real(GgufValueType.FLOAT64, Math.PI));
        values.put("bool.t", GgufValue.of(true));
        values.put("bool.f", GgufValue.of(false));
        values.put("str", GgufValue.of("héllo ▁ wörld"));
        values.put("str.empty", GgufValue.of(""));
        values.put("arr.str", GgufValue.Array.ofStrings(List.of("a", "", "ü▁")));
        values.put("arr.f32", GgufValue.Array.ofFloats(new float[]{1.5f, Float.NaN, -0.0f}));
        values.put("arr.i32", GgufValue.Array.ofInts(new int[]{1, -2, 3}));
        values.put("arr.u8", GgufValue.Array.of(GgufValueType.UINT8, List.of(new GgufValue.Int(GgufValueType.UINT8, 7))));
        values.put("arr.bool", GgufValue.Array.of(GgufValueType.BOOL, List.of(GgufValue.of(true), GgufValue.of(false))));
        values.put("arr.empty", GgufValue.Array.of(GgufValueType.INT64, List.of()));
        GgufValue.Array inner = GgufValue.Array.ofStrings(List.of("x", "yz"));
        values.put("arr.nested", GgufValue.Array.of(GgufValueType.ARRAY, List.of(inner, GgufValue.Array.ofInts(new int[]{9}))));

        GgufWriter w = new GgufWriter();
        values.forEach(w::put);
        Path p = tmp.resolve("meta.gguf");
        w.write(p);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile f = GgufFile.read(p, arena);
            assertEquals(List.copyOf(values.keySet()), List.copyOf(f.metadata().keySet()));
            for (var e : values.entrySet()) assertEquals(e.getValue(), f.metadata().get(e.getKey()), e.getKey());
            assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits((float) f.real("f32")));
            assertEquals(List.of("a", "", "ü▁"), f.array("arr.str", GgufValueType.STRING).strings());
            List<GgufValue> nested = f.array("arr.nested", GgufValueType.ARRAY).values();
            assertEquals(List.of("x", "yz"), ((GgufValue.Array) nested.get(0)).strings());
            assertArrayEquals(new int[]{9}, ((GgufValue.Array) nested.get(1)).ints());
            assertArrayEquals(new int[]{1, -2, 3}, f.array("arr.i32", GgufValueType.INT32).ints());
            assertEquals(4294967295L, f.integer("u32", 0, Long.MAX_VALUE));
            assertThrows(ModelFormatException.class, () -> f.integer("u64", 0, Long.MAX_VALUE)); // 2^64-1 is out of a long's range
            assertThrows(ModelFormatException.class, () -> f.string("u8"));
            ModelFormatException missing = assertThrows(ModelFormatException.class, () -> f.string("nope"));
            assertTrue(missing.getMessage().contains("nope is missing"));
            assertTrue(f.tensors().isEmpty());
        }
    }

    @Test
    void tensorsOfEveryWritableTypeAlignedAndLazilyMade() throws Exception {
        float[] values = new float[64 * 3];
        for (int i = 0; i < values.length; i++) values[i] = (float) Math.sin(i) * (i % 7);
        long[] shape = {64, 3};
        GgufWriter w = new GgufWriter().put("general.alignment", GgufValue.u32(64));
        for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0)) {
            w.tensor(TensorCodecs.quantize("t." + t, shape, values, t));
        }
        int[] made = {0};
        w.tensor("lazy", GgmlType.Q8_0, shape, scratch -> {
            made[0]++;
            return io.shardwise.core.quant.TensorConverter.convert(Tensor.ofFloats("lazy", shape, values), GgmlType.Q8_0, scratch).data();
        });
        w.tensor("odd", GgmlType.F32, new long[]{3}, scratch -> Tensor.ofFloats("odd", new long[]{3}, new float[]{1, 2, 3}).data());
        Path p = tmp.resolve("t.gguf");
        w.write(p);
        assertEquals(1, made[0]);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile f = GgufFile.read(p, arena);
            assertEquals(64, f.alignment());
            assertEquals(0, f.dataOffset() % 64);
            for (GgufFile.TensorInfo ti : f.tensorInfos()) assertEquals(0, ti.offset() % 64, ti.name());
            for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0)) {
                Tensor got = f.tensors().get("t." + t);
                assertEquals(t, got.type());
                assertArrayEquals(shape, got.shape());
                assertEquals(-1, TensorCodecs.quantize("x", shape, values, t).data().mismatch(got.data()), t.toString());
            }
            assertArrayEquals(values, f.tensors().get("t.F32").toFloats());
            assertEquals(-1, f.tensors().get("lazy").data().mismatch(f.tensors().get("t.Q8_0").data()));
            assertArrayEquals(new float[]{1, 2, 3}, f.tensors().get("odd").toFloats());
            assertTrue(f.tensors().get("odd").data().isMapped());
            long at = f.fileOffset("t.Q4_0");
            byte[] raw = Files.readAllBytes(p);
            assertEquals(-1, java.lang.foreign.MemorySegment.ofArray(raw).asSlice(at, f.tensors().get("t.Q4_0").data().byteSize()).mismatch(f.tensors().get("t.Q4_0").data()));
        }
        // the model file gets the umask's mode like any new file, not a temp file's 0600
        if (p.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            Path plain = Files.createFile(tmp.resolve("plain"));
            assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(p));
        }
    }

    @Test
    void writerRefusesWhatGgufCannotHoldAndLeavesNoFileOnFailure() throws Exception {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class, () -> w.tensor("n".repeat(64), GgmlType.F32, new long[]{1}, s -> null));
        assertThrows(IllegalArgumentException.class, () -> w.tensor("q", GgmlType.Q8_0, new long[]{33}, s -> null));
        w.tensor("short", GgmlType.F32, new long[]{4}, s -> s.allocate(8));
        Path p = tmp.resolve("fail.gguf");
        assertThrows(IllegalStateException.class, () -> w.write(p));
        assertFalse(Files.exists(p));
        try (var files = Files.list(tmp)) {
            assertEquals(0, files.count(), "no temp file left behind");
        }
    }

    @Test
    void streamedAndChunkConvertedTensorsMatchWholeTensorConversion() throws Exception {
        int cols = 96, rows = (1 << 18) / cols * 2 + 5; // more than two conversion chunks
        float[] values = new float[cols * rows];
        java.util.SplittableRandom r = new java.util.SplittableRandom(4);
        for (int i = 0; i < values.length; i++) values[i] = (float) r.nextGaussian();
        Tensor src = Tensor.ofFloats("w", new long[]{cols, rows}, values);
        Path p = tmp.resolve("conv.gguf");
        byte[] piece = new byte[100];
        new GgufWriter().tensor(src, GgmlType.Q8_0).tensor(src.withName("same"), GgmlType.F32)
                .stream("pieces", GgmlType.I8, new long[]{250}, sink -> {
                    for (int i = 0; i < 2; i++) sink.write(java.lang.foreign.MemorySegment.ofArray(piece));
                    sink.write(java.lang.foreign.MemorySegment.ofArray(piece).asSlice(0, 50));
                }).write(p);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile f = GgufFile.read(p, arena);
            Tensor want = io.shardwise.core.quant.TensorConverter.convert(src, GgmlType.Q8_0, arena);
            assertEquals(-1, f.tensors().get("w").data().mismatch(want.data()));
            assertEquals(-1, f.tensors().get("same").data().mismatch(src.data()));
            assertEquals(250, f.tensors().get("pieces").data().byteSize());
        }
        Path bad = tmp.resolve("short.gguf");
        GgufWriter w = new GgufWriter().stream("short", GgmlType.I8, new long[]{10}, sink -> sink.write(java.lang.foreign.MemorySegment.ofArray(new byte[9])));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.write(bad));
        assertTrue(e.getMessage().contains("short") && e.getMessage().contains("9"), e.getMessage());
        GgufWriter w2 = new GgufWriter().stream("long", GgmlType.I8, new long[]{10}, sink -> sink.write(java.lang.foreign.MemorySegment.ofArray(new byte[11])));
        assertThrows(IllegalStateException.class, () -> w2.write(bad));
        assertFalse(Files.exists(bad));
        try (var s = Files.list(tmp)) {
            assertTrue(s.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temp file left");
        }
    }

    @Test
    void perChannelIntTensorsAreWrittenDequantized() throws Exception {
        LlamaModel tiny = TestModels.tiny(3, true);
        String name = io.shardwise.core.model.TensorNames.attnQ(0);
        Tensor q = tiny.tensor(name);
        Tensor i8 = TensorCodecs.quantize(name, q.shape(), q.toFloats(), io.shardwise.core.tensor.ChannelIntType.I8_ASYM_CH);
        LlamaModel m = tiny.withTensors(Map.of(name, i8));
        Path p = tmp.resolve("i8.gguf");
        GgufLlama.write(m, p, GgufLlama.WriteOptions.keepTypes("i8"));
        try (Arena arena = Arena.ofConfined()) {
            Tensor back = GgufLlama.read(p, arena).tensor(name);
            assertEquals(GgmlType.F32, back.type());
            assertArrayEquals(i8.toFloats(), back.toFloats());
            GgufFile f = GgufFile.read(p, arena);
            assertEquals(0, f.integer("general.file_type", 0, 100));
            assertEquals("<s>", f.array("tokenizer.ggml.tokens", GgufValueType.STRING).strings().get(1));
            assertEquals("\u2581the", f.array("tokenizer.ggml.tokens", GgufValueType.STRING).strings().get(7));
            assertEquals("a\u2581b", f.array("tokenizer.ggml.tokens", GgufValueType.STRING).strings().get(15));
        }
    }
}
