package io.shardwise.core.format;

import io.shardwise.core.model.LlamaModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broken GGUF files, built byte by byte: each gives a ModelFormatException naming the file and the field. */
class GgufBadInputTest {
    @TempDir
    Path tmp;

    /** Header with the given counts; {@code body} writes the KVs and tensor infos; then padding and {@code dataBytes} zeros. */
    static byte[] gguf(long version, long nTensors, long nKv, Consumer<LeBytes> body, int dataBytes) {
        LeBytes b = new LeBytes().u32(GgufFile.MAGIC).u32(version).u64(nTensors).u64(nKv);
        body.accept(b);
        b.zeros((int) (GgufFile.alignUp(b.size(), 32) - b.size()) + dataBytes);
        return b.toArray();
    }

    /** One F32 tensor "w" of {@code dims} at {@code offset}, type id {@code type}. */
    static Consumer<LeBytes> tensor(long type, long offset, long... dims) {
        return b -> {
            b.string("w").u32(dims.length);
            for (long d : dims) b.u64(d);
            b.u32(type).u64(offset);
        };
    }

    ModelFormatException fails(byte[] file, String... fragments) throws IOException {
        Path p = Files.write(tmp.resolve("bad.gguf"), file);
        ModelFormatException e;
        try (Arena arena = Arena.ofConfined()) {
            e = assertThrows(ModelFormatException.class, () -> GgufFile.read(p, arena));
        }
        assertTrue(e.getMessage().contains(p.toString()), "names the file: " + e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
        return e;
    }

    @Test
    void validMinimalFileReads() throws Exception {
        byte[] ok = gguf(3, 1, 1, b -> {
            b.string("general.architecture").u32(GgufValueType.STRING.id).string("llama");
            tensor(0, 0, 4, 2).accept(b);
        }, 32);
        Path p = Files.write(tmp.resolve("ok.gguf"), ok);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile f = GgufFile.read(p, arena);
            assertEquals(8, f.tensors().get("w").elements());
            assertTrue(f.tensors().get("w").data().isMapped());
        }
    }

    @Test
    void emptyAndTooShortFiles() throws Exception {
        fails(new byte[0], "magic", "truncated");
        fails(new byte[]{'G', 'G'}, "magic", "truncated");
        fails(Arrays.copyOf(gguf(3, 0, 0, b -> { }, 0), 6), "version", "truncated");
        fails(Arrays.copyOf(gguf(3, 0, 0, b -> { }, 0), 20), "metadata_kv_count", "truncated");
    }

    @Test
    void wrongMagic() throws Exception {
        byte[] f = gguf(3, 0, 0, b -> { }, 0);
        f[3] = 'L';
        fails(f, "magic", "not a GGUF file");
    }

    @Test
    void unsupportedVersions() throws Exception {
        fails(gguf(1, 0, 0, b -> { }, 0), "version", "version 1");
        fails(gguf(4, 0, 0, b -> { }, 0), "version", "unsupported version");
        fails(gguf(0x03000000L, 0, 0, b -> { }, 0), "version", "big-endian");
    }

    @Test
    void absurdCountsAreRefusedBeforeAllocating() throws Exception {
        fails(gguf(3, 1_000_000_000_000L, 0, b -> { }, 0), "tensor_count", "absurd");
        fails(gguf(3, -1L, 0, b -> { }, 0), "tensor_count", "18446744073709551615");
        fails(gguf(3, 0, 1L << 40, b -> { }, 0), "metadata_kv_count", "absurd");
    }

    @Test
    void hugeStringsAndArrays() throws Exception {
        fails(gguf(3, 0, 1, b -> b.u64(1L << 40), 64), "metadata key #0", "runs past the end");
        fails(gguf(3, 0, 1, b -> b.string("k").u32(GgufValueType.STRING.id).u64(1L << 40), 64), "metadata k", "1099511627776", "runs past the end");
        fails(gguf(3, 0, 1, b -> b.string("k").u32(GgufValueType.ARRAY.id).u32(GgufValueType.UINT8.id).u64(1L << 50), 64), "metadata k", "cannot fit");
        fails(gguf(3, 0, 1, b -> b.string("k").u32(GgufValueType.ARRAY.id).u32(GgufValueType.STRING.id).u64(1L << 40), 64), "metadata k", "cannot fit");
        fails(gguf(3, 0, 1, b -> b.string("k").u32(GgufValueType.ARRAY.id).u32(GgufValueType.STRING.id).u64(2).u64(1).raw(new byte[]{'a'}, 0, 1).u64(1L << 40), 0),
                "metadata k", "string 1 length", "runs past the end");
        fails(gguf(3, 0, 1, b -> b.string("k").u32(GgufValueType.ARRAY.id).u32(GgufValueType.ARRAY.id).u64(1).u32(GgufValueType.INT64.id).u64(1L << 60), 0),
                "metadata k[0]", "cannot fit");
        fails(gguf(3, 0, 1, b -> {
            b.string("k").u32(GgufValueType.ARRAY.id);
            for (int i = 0; i < 12; i++) b.u32(GgufValueType.ARRAY.id).u64(1);
            b.u32(GgufValueType.UINT8.id).u64(0);
        }, 64), "metadata k", "nested");
    }

    @Test
    void badMetadata() throws Exception {
        fails(gguf(3, 0, 1, b -> b.string("k").u32(42).u8(0), 0), "metadata k", "unknown value type id 42");
        fails(gguf(3, 0, 1, b -> b.string("k").u32(GgufValueType.ARRAY.id).u32(77).u64(0), 0), "metadata k", "unknown array element type id 77");
        fails(gguf(3, 0, 2, b -> b.string("k").u32(GgufValueType.UINT8.id).u8(1).string("k").u32(GgufValueType.UINT8.id).u8(2), 0), "metadata k", "twice");
        fails(gguf(3, 0, 1, b -> b.string("general.alignment").u32(GgufValueType.UINT32.id).u32(24), 0), "general.alignment", "power of two");
        fails(gguf(3, 0, 1, b -> b.string("general.alignment").u32(GgufValueType.STRING.id).string("32"), 0), "general.alignment", "UINT32");
    }

    @Test
    void badTensorInfos() throws Exception {
        fails(gguf(3, 1, 0, tensor(99, 0, 4), 16), "tensor w type", "ggml type id 99 is unknown or not supported");
        fails(gguf(3, 1, 0, tensor(0, 1L << 40, 4), 16), "tensor w", "offset 1099511627776", "runs past the end");
        fails(gguf(3, 1, 0, tensor(0, 0, 64, 1L << 30), 16), "tensor w", "runs past the end");
        fails(gguf(3, 1, 0, tensor(0, 0, 1L << 40, 1L << 40), 16), "tensor w shape", "overflows");
        fails(gguf(3, 1, 0, tensor(0, 0, 4, 0), 16), "tensor w ne[1]", "positive");
        fails(gguf(3, 1, 0, tensor(0, 0, 1, 1, 1, 1, 1), 16), "tensor w n_dims", "5");
        fails(gguf(3, 1, 0, tensor(0, 8, 2), 32), "tensor w offset", "alignment 32");
        fails(gguf(3, 1, 0, tensor(8, 0, 33), 64), "tensor w", "does not fit type Q8_0");
        fails(gguf(3, 2, 0, tensor(0, 0, 4).andThen(tensor(0, 32, 4)), 64), "tensor w", "twice");
        fails(gguf(3, 1, 0, b -> b.string("x".repeat(100)).u32(1).u64(4).u32(0).u64(0), 16), "tensor #0 name", "longer");
        fails(gguf(3, 1, 0, tensor(0, 0, 8), 16), "tensor w", "runs past the end"); // 32 bytes needed, 16 there
    }

    @Test
    void hugeOrBrokenTensorInfosAreRefusedBeforeAllocating() throws Exception {
        fails(gguf(3, 1, 0, b -> b.u64(1L << 40), 64), "tensor #0 name");
        fails(gguf(3, 1, 0, b -> b.u64(-1L), 64), "tensor #0 name");
        fails(gguf(3, 1, 0, tensor(0xFFFFFFFFL, 0, 4), 16), "tensor w type", "unknown");
        fails(gguf(3, 1, 0, tensor(0, 32, 4), 16), "tensor w", "runs past the end"); // one aligned slot past the data
        fails(gguf(3, 1, 0, tensor(0, -32L, 4), 16), "tensor w", "offset");
        LeBytes oneInfo = new LeBytes().u32(GgufFile.MAGIC).u32(3).u64(2).u64(0);
        tensor(0, 0, 4).accept(oneInfo);
        fails(oneInfo.toArray(), "tensor_count: 2"); // claims 2 tensors, the file ends after 1 info
    }

    @Test
    void aModelFileTruncatedOnDiskNamesTheFileAndTheTensor() throws Exception {
        Path p = tmp.resolve("cut.gguf");
        GgufLlama.write(TestModels.tiny(1, true), p, GgufLlama.WriteOptions.keepTypes("tiny"));
        long dataStart;
        try (Arena arena = Arena.ofConfined()) {
            dataStart = GgufFile.read(p, arena).dataOffset();
        }
        long full = Files.size(p);
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(dataStart + (full - dataStart) / 2);
        }
        ModelFormatException e;
        try (Arena arena = Arena.ofConfined()) {
            e = assertThrows(ModelFormatException.class, () -> GgufFile.read(p, arena));
        }
        assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("tensor ") && e.getMessage().contains("runs past the end"), e.getMessage());
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(dataStart / 2); // inside the header: the metadata or tensor infos are cut
        }
        try (Arena arena = Arena.ofConfined()) {
            e = assertThrows(ModelFormatException.class, () -> GgufFile.read(p, arena));
        }
        assertTrue(e.getMessage().contains(p.toString()) && (e.getMessage().contains("truncated") || e.getMessage().contains("runs past the end")), e.getMessage());
    }

    @Test
    void everyTruncationOfAValidModelFileFails() throws Exception {
        Path p = tmp.resolve("tiny.gguf");
        GgufLlama.write(TestModels.tiny(1, true), p, GgufLlama.WriteOptions.keepTypes("tiny"));
        byte[] full = Files.readAllBytes(p);
        long lastEnd, dataStart;
        try (Arena arena = Arena.ofConfined()) {
            GgufFile f = GgufFile.read(p, arena);
            dataStart = f.dataOffset();
            lastEnd = f.dataOffset() + f.tensorInfos().stream()
                    .mapToLong(ti -> ti.offset() + f.tensors().get(ti.name()).data().byteSize()).max().orElseThrow();
        }
        // every cut inside the header, then a sample of cuts inside the data
        for (int len = 0; len < full.length; len += len <= dataStart ? 1 : 97) {
            MemorySegment cut = MemorySegment.ofArray(Arrays.copyOf(full, len));
            if (len < lastEnd) {
                int n = len;
                assertThrows(ModelFormatException.class, () -> GgufLlama.read(GgufFile.parse(cut, "cut")), "prefix of " + n + " bytes");
            } else {
                LlamaModel m = GgufLlama.read(GgufFile.parse(cut, "cut")); // only trailing padding is missing
                assertEquals(16, m.vocabulary().size());
            }
        }
    }

    @Test
    void llamaLevelErrorsNameTheField() throws Exception {
        LlamaModel tiny = TestModels.tiny(2, false);
        Path p = tmp.resolve("m.gguf");
        GgufWriter w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("general.architecture", "gpt2");
        w.write(p);
        llamaFails(p, "general.architecture", "gpt2");

        w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("tokenizer.ggml.model", "gpt2");
        w.write(p);
        llamaFails(p, "tokenizer.ggml.model");

        w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("llama.feed_forward_length", GgufValue.u32(64));
        w.write(p);
        llamaFails(p, "blk.0.ffn_gate.weight", "has shape [32, 48]", "[32, 64]");

        w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("llama.block_count", GgufValue.u32(3));
        w.write(p);
        llamaFails(p, "tensor blk.2.attn_norm.weight is missing");

        w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("llama.embedding_length", GgufValue.of("32"));
        w.write(p);
        llamaFails(p, "llama.embedding_length", "integer", "STRING");

        w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("tokenizer.ggml.tokens", GgufValue.Array.ofStrings(tiny.vocabulary().tokens().subList(0, 10)));
        w.write(p);
        llamaFails(p, "tokenizer.ggml.tokens", "10 tokens", "16 rows");

        w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("tokenizer.ggml.bos_token_id", GgufValue.u32(99));
        w.write(p);
        llamaFails(p, "tokenizer.ggml.bos_token_id", "99");

        w = GgufLlama.writer(tiny, GgufLlama.WriteOptions.keepTypes("m"));
        w.put("llama.attention.head_count", GgufValue.u32(5));
        w.write(p);
        llamaFails(p, "hyper-parameters", "not a multiple");
    }

    void llamaFails(Path p, String... fragments) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufLlama.read(p, arena));
            assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
            for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
        }
    }
}
