package io.shardwise.core.format;

import io.shardwise.core.format.hf.HfConfig;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.core.format.hf.SafetensorsCheckpoint;
import io.shardwise.core.format.hf.SafetensorsFile;
import io.shardwise.core.tensor.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broken safetensors, index and config.json files: each is refused with a message naming the file and the field. */
class SafetensorsBadInputTest {
    @TempDir
    Path tmp;

    static byte[] file(long headerLength, String header, int dataBytes) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(h);
        return b.array();
    }

    static byte[] file(String header, int dataBytes) {
        return file(header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    void refused(byte[] content, String... fragments) throws Exception {
        Path p = Files.write(tmp.resolve("bad.safetensors"), content);
        try (Arena arena = Arena.ofConfined()) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.read(p, arena));
            assertTrue(e.getMessage().startsWith(p + ": safetensors"), e.getMessage());
            for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
        }
    }

    @Test
    void headerLengthsThatCannotBe() throws Exception {
        refused(new byte[5], "header length", "truncated");
        refused(file(1L << 40, "{}", 0), "header length", "1099511627776", "absurd");
        refused(file(-1L, "{}", 0), "header length", "18446744073709551615");
        refused(file(1000, "{\"a\":1}", 16), "header length 1000 runs past the end");
    }

    @Test
    void invalidJsonAndWrongShapes() throws Exception {
        refused(file("{\"w\": {\"dtype\": \"F32\"", 0), "header", "not valid JSON");
        refused(file("[1, 2]", 0), "header must be a JSON object");
        refused(file("{\"w\": 7}", 0), "tensor w must be a JSON object");
        refused(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8),
                "not valid JSON", "Duplicate field 'w'");
        refused(file("{\"__metadata__\": {\"format\": 3}}", 0), "__metadata__.format must be a string");
        refused(file("{\"w\": " + "[".repeat(20_000) + "]".repeat(20_000) + "}", 0), "header", "not valid JSON", "nesting depth"); // no StackOverflowError
    }

    @Test
    void unknownDtypeAndBadShape() throws Exception {
        refused(file("{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2), "tensor w dtype", "'F8_E4M3' is unknown");
        refused(file("{\"w\": {\"shape\": [2], \"data_offsets\": [0, 2]}}", 2), "tensor w dtype is missing");
        refused(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -3], \"data_offsets\": [0, 8]}}", 8), "tensor w shape[1]", "-3");
        refused(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 8]}}", 8), "tensor w shape", "overflows");
    }

    @Test
    void offsetsOutOfRangeOverlappingOrNotMatchingTheShape() throws Exception {
        refused(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8), "tensor w data_offsets", "run past the end", "8 bytes");
        refused(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 12]}}", 16), "tensor w data_offsets", "span 12 bytes", "needs 16");
        refused(file("{\"w\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [8, 4]}}", 16), "tensor w data_offsets", "end before begin");
        refused(file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 16),
                "tensor b data_offsets", "overlap tensor a");
        refused(file("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 9223372036854775807]}}", 8), "run past the end");
    }

    @Test
    void wellFormedFileReadsWithGgmlShape() throws Exception {
        Path p = Files.write(tmp.resolve("ok.safetensors"),
                file("{\"__metadata__\": {\"format\": \"pt\"}, \"w\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": [0, 12]}, \"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [12, 16]}}", 16));
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.read(p, arena);
            assertEquals("pt", f.metadata().get("format"));
            assertEquals(GgmlType.BF16, f.tensors().get("w").type());
            assertEquals(3, f.tensors().get("w").shape()[0]);
            assertEquals(2, f.tensors().get("w").shape()[1]);
            assertEquals(1, f.tensors().get("s").elements());
        }
    }

    @Test
    void indexPointingToAMissingFileOrTensorIsRefused() throws Exception {
        Path dir = tmp.resolve("idx");
        HfLlama.write(TestModels.tiny(1, false), dir, new HfLlama.WriteOptions(GgmlType.F32, 20_000));
        Path index = dir.resolve("model.safetensors.index.json");
        String json = Files.readString(index);
        try (Arena arena = Arena.ofConfined()) {
            Files.writeString(index, json.replaceFirst("model-00002-of-", "model-00009-of-"));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(dir, arena));
            assertTrue(e.getMessage().startsWith(index.toString()) && e.getMessage().contains("model-00009-of-") && e.getMessage().contains("does not exist"), e.getMessage());
            Files.writeString(index, json.replaceFirst("\"model-00002-of-", "\"../model-00002-of-"));
            e = assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(dir, arena));
            assertTrue(e.getMessage().contains("not a file in"), e.getMessage());
            var tree = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper().readTree(json);
            var map = (com.fasterxml.jackson.databind.node.ObjectNode) tree.get("weight_map");
            String own = map.get("model.norm.weight").asText();
            map.put("model.norm.weight", map.get("model.embed_tokens.weight").asText().equals(own) ? map.get("lm_head.weight").asText() : map.get("model.embed_tokens.weight").asText());
            Files.writeString(index, tree.toString());
            e = assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(dir, arena));
            assertTrue(e.getMessage().contains("weight_map.model.norm.weight") && e.getMessage().contains("has no such tensor"), e.getMessage());
            Files.writeString(index, "{\"weight_map\": ");
            e = assertThrows(ModelFormatException.class, () -> SafetensorsCheckpoint.open(dir, arena));
            assertTrue(e.getMessage().startsWith(index + ": index is not valid JSON"), e.getMessage());
        }
    }

    @Test
    void configJsonErrorsNameTheField() {
        assertConfig("{\"architectures\": [\"GPTNeoXForCausalLM\"]}", "architectures", "GPTNeoXForCausalLM", "not supported");
        String base = "\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"num_attention_heads\": 8, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"vocab_size\": 32";
        assertConfig("{" + base + ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", "rope_scaling type 'yarn' is not supported");
        assertConfig("{" + base + ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}}", "rope_scaling", "high_freq_factor > low_freq_factor");
        assertConfig("{" + base + ", \"num_key_value_heads\": 3}", "n_heads 8 is not a multiple of n_kv_heads 3");
        assertConfig("{" + base + ", \"hidden_act\": \"gelu\"}", "hidden_act 'gelu'");
        assertConfig("{" + base.replace("\"vocab_size\": 32", "\"vocab_size\": \"many\"") + "}", "vocab_size \"many\" is not a positive integer");
        assertConfig("{" + base.replace(", \"num_hidden_layers\": 2", "") + "}", "num_hidden_layers is missing");
        assertConfig("{" + base + ", \"head_dim\": 0}", "head_dim 0 is not a positive integer"); // another head_dim is read: HeadDimFormatsTest
        assertConfig("{" + base, "not valid JSON");
    }

    private static void assertConfig(String json, String... fragments) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> HfConfig.parse(json, "/m/config.json"));
        assertTrue(e.getMessage().startsWith("/m/config.json: "), e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
    }

    @Test
    void hfDirectoryProblemsAreNamed() throws Exception {
        Path dir = tmp.resolve("hf");
        HfLlama.write(TestModels.tiny(2, false), dir, HfLlama.WriteOptions.DEFAULT);
        try (Arena arena = Arena.ofConfined()) {
            String cfg = Files.readString(dir.resolve("config.json"));
            Files.writeString(dir.resolve("config.json"), cfg.replace("\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 3"));
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(dir, arena));
            assertTrue(e.getMessage().contains("model.layers.2.") && e.getMessage().contains("missing"), e.getMessage());
            Files.writeString(dir.resolve("config.json"), cfg.replace("\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 1"));
            e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(dir, arena));
            assertTrue(e.getMessage().contains("do not fit config.json"), e.getMessage());
            Files.writeString(dir.resolve("config.json"), cfg.replace("\"intermediate_size\" : 48", "\"intermediate_size\" : 64"));
            e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(dir, arena));
            assertTrue(e.getMessage().contains("mlp.gate_proj.weight has shape [48, 32]") && e.getMessage().contains("[64, 32]"), e.getMessage());
            Files.writeString(dir.resolve("config.json"), cfg);
            Files.delete(dir.resolve("tokenizer.json"));
            e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(dir, arena));
            assertTrue(e.getMessage().contains("no tokenizer.json"), e.getMessage());
            Path empty = Files.createDirectories(tmp.resolve("empty"));
            e = assertThrows(ModelFormatException.class, () -> ModelFiles.open(empty, arena));
            assertTrue(e.getMessage().startsWith(empty + ": a directory without config.json"), e.getMessage());
        }
    }
}
