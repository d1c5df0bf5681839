package io.shardwise.core.format.hf;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.quant.TensorConverter;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tokenizer.HfTokenizerJson;
import io.shardwise.core.tokenizer.HfTokenizerJsonWriter;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face Llama-family directory (config.json, safetensors, tokenizer.json) to and from a {@link LlamaModel}
 * with GGUF tensor names. For arch "llama" the runtime rotates interleaved pairs, so q_proj/k_proj rows (and their
 * biases) are permuted on read and un-permuted on write as llama.cpp's convert_hf_to_gguf.py {@code LlamaModel.permute}
 * does; those tensors are copied one at a time, every other tensor stays a view of the mapped files. Qwen2 is NEOX
 * and is not permuted.
 */
public final class HfLlama {
    private static final Map<String, String> BLOCK_NAMES = Map.ofEntries(
            Map.entry("attn_norm.weight", "input_layernorm.weight"),
            Map.entry("attn_q.weight", "self_attn.q_proj.weight"),
            Map.entry("attn_k.weight", "self_attn.k_proj.weight"),
            Map.entry("attn_v.weight", "self_attn.v_proj.weight"),
            Map.entry("attn_q.bias", "self_attn.q_proj.bias"),
            Map.entry("attn_k.bias", "self_attn.k_proj.bias"),
            Map.entry("attn_v.bias", "self_attn.v_proj.bias"),
            Map.entry("attn_output.weight", "self_attn.o_proj.weight"),
            Map.entry("ffn_norm.weight", "post_attention_layernorm.weight"),
            Map.entry("ffn_gate.weight", "mlp.gate_proj.weight"),
            Map.entry("ffn_up.weight", "mlp.up_proj.weight"),
            Map.entry("ffn_down.weight", "mlp.down_proj.weight"));
    private static final Map<String, String> BLOCK_NAMES_BACK = new HashMap<>();

    static {
        BLOCK_NAMES.forEach((g, h) -> BLOCK_NAMES_BACK.put(h, g));
    }

    /**
     * How to write: {@code dtype} F32/F16/BF16 for every tensor, or null to keep dense tensors' types (block-quantized
     * ones become F32); {@code maxShardBytes} splits into shards with an index (0: one file).
     */
    public record WriteOptions(GgmlType dtype, long maxShardBytes) {
        public static final WriteOptions DEFAULT = new WriteOptions(null, 0);
    }

    private HfLlama() {
    }

    /** True when {@code dir} looks like an HF model directory (config.json and safetensors). */
    public static boolean isModelDirectory(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(HfConfig.FILE));
    }

    public static String hfName(String gguf) {
        return switch (gguf) {
            case TensorNames.TOKEN_EMBD -> "model.embed_tokens.weight";
            case TensorNames.OUTPUT_NORM -> "model.norm.weight";
            case TensorNames.OUTPUT -> "lm_head.weight";
            default -> {
                int l = TensorNames.blockOf(gguf);
                String rest = l < 0 ? null : BLOCK_NAMES.get(gguf.substring(gguf.indexOf('.', 4) + 1));
                yield rest == null ? null : "model.layers." + l + "." + rest;
            }
        };
    }

    public static String ggufName(String hf) {
        switch (hf) {
            case "model.embed_tokens.weight":
                return TensorNames.TOKEN_EMBD;
            case "model.norm.weight":
                return TensorNames.OUTPUT_NORM;
            case "lm_head.weight":
                return TensorNames.OUTPUT;
            default:
                if (!hf.startsWith("model.layers.")) return null;
                int dot = hf.indexOf('.', "model.layers.".length());
                if (dot < 0) return null;
                String layer = hf.substring("model.layers.".length(), dot);
                if (layer.isEmpty() || !layer.chars().allMatch(Character::isDigit) || layer.length() > 6) return null;
                String rest = BLOCK_NAMES_BACK.get(hf.substring(dot + 1));
                return rest == null ? null : "blk." + Integer.parseInt(layer) + "." + rest;
        }
    }

    /** Reads the model in {@code dir}; tensors are views of the mapped safetensors (permuted q/k live in {@code arena}). */
    public static LlamaModel read(Path dir, Arena arena) throws IOException {
        return read(dir, SafetensorsCheckpoint.open(dir, arena).tensors(), arena);
    }

    /** Reads config and tokenizer from {@code dir} and takes the weights from {@code hfTensors} (by HF name). */
    public static LlamaModel read(Path dir, Map<String, Tensor> hfTensors, Arena arena) throws IOException {
        HfConfig.Parsed parsed = HfConfig.read(dir.resolve(HfConfig.FILE));
        LlamaConfig c = parsed.config();
        Vocabulary vocab = HfTokenizerJson.read(dir, c.vocabSize());
        if (vocab.size() != c.vocabSize()) {
            throw new ModelFormatException(dir.resolve(HfTokenizerJson.TOKENIZER) + ": " + vocab.size() + " tokens but config.json vocab_size is " + c.vocabSize());
        }
        Map<String, Tensor> byGguf = new HashMap<>();
        for (Map.Entry<String, Tensor> e : hfTensors.entrySet()) {
            String g = ggufName(e.getKey());
            if (g == null) {
                if (e.getKey().endsWith("rotary_emb.inv_freq")) continue; // recomputed from rope_theta
                throw new ModelFormatException(dir + ": tensor " + e.getKey() + " is not a weight of a " + parsed.architecture().className);
            }
            if (g.equals(TensorNames.OUTPUT) && c.tiedEmbeddings()) continue; // a tied checkpoint may still store lm_head
            byGguf.put(g, e.getValue().withName(g));
        }
        Map<String, long[]> expected = GgufLlama.expectedShapes(c);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = byGguf.remove(e.getKey());
            if (t == null) throw new ModelFormatException(dir + ": tensor " + hfName(e.getKey()) + " is missing");
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new ModelFormatException(dir + ": tensor " + hfName(e.getKey()) + " has shape " + Arrays.toString(SafetensorsFile.reversed(t.shape()))
                        + ", config.json implies " + Arrays.toString(SafetensorsFile.reversed(e.getValue())));
            }
            tensors.put(e.getKey(), permutes(c, e.getKey()) ? permuteRows(t, heads(c, e.getKey()), false, arena) : t);
        }
        if (!byGguf.isEmpty()) throw new ModelFormatException(dir + ": tensors " + byGguf.keySet().stream().map(HfLlama::hfName).toList() + " do not fit config.json (more layers than num_hidden_layers, or biases without attention_bias?)");
        return new LlamaModel(c, vocab, tensors);
    }

    /** Arch llama rotates interleaved pairs: q/k weights and biases need llama.cpp's permutation. */
    static boolean permutes(LlamaConfig c, String gguf) {
        if (!LlamaConfig.LLAMA.equals(c.arch()) || c.ropeNeox()) return false;
        return gguf.endsWith(".attn_q.weight") || gguf.endsWith(".attn_k.weight") || gguf.endsWith(".attn_q.bias") || gguf.endsWith(".attn_k.bias");
    }

    static int heads(LlamaConfig c, String gguf) {
        return gguf.contains(".attn_q.") ? c.nHeads() : c.nKvHeads();
    }

    /**
     * convert_hf_to_gguf.py's permute: within each head of {@code headSize} rows, HF row {@code j*headSize/2 + i}
     * (j = 0, 1: the two rotated halves) becomes row {@code 2i + j}; {@code inverse} undoes it.
     */
    static Tensor permuteRows(Tensor t, int heads, boolean inverse, Arena arena) {
        long rows = t.shape().length == 1 ? t.shape()[0] : t.elements() / t.shape()[0];
        long rowBytes = t.data().byteSize() / rows;
        int headSize = (int) (rows / heads);
        int half = headSize / 2;
        MemorySegment src = t.data();
        MemorySegment dst = arena.allocate(src.byteSize(), 8);
        for (long h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int j = 0; j < 2; j++) {
                    long hfRow = h * headSize + (long) j * half + i, ggufRow = h * headSize + 2L * i + j;
                    long from = inverse ? ggufRow : hfRow, to = inverse ? hfRow : ggufRow;
                    MemorySegment.copy(src, from * rowBytes, dst, to * rowBytes, rowBytes);
                }
            }
        }
        return new Tensor(t.name(), t.type(), t.shape(), dst);
    }

    /** Writes {@code model} into {@code dir} as config.json, tokenizer files and safetensors; returns the safetensors files. */
    public static List<Path> write(LlamaModel model, Path dir, WriteOptions options) throws IOException {
        LlamaConfig c = model.config();
        Files.createDirectories(dir);
        SafetensorsWriter w = new SafetensorsWriter();
        Map<GgmlType, Integer> counts = new HashMap<>();
        for (Tensor t : model.tensors().values()) {
            String hf = hfName(t.name());
            if (hf == null) {
                if (t.name().equals("rope_freqs.weight")) continue; // HF recomputes it from rope_scaling
                throw new IllegalArgumentException("tensor " + t.name() + " has no Hugging Face name");
            }
            GgmlType target = options.dtype() != null ? options.dtype()
                    : t.type() == GgmlType.F32 || t.type() == GgmlType.F16 || t.type() == GgmlType.BF16 ? (GgmlType) t.type() : GgmlType.F32;
            if (t.shape().length >= 2) counts.merge(target, 1, Integer::sum);
            boolean permute = permutes(c, t.name());
            int heads = heads(c, t.name());
            w.tensor(hf, target, SafetensorsFile.reversed(t.shape()), scratch -> {
                Tensor dense = TensorConverter.convert(t, target, scratch);
                return permute ? permuteRows(dense, heads, true, scratch).data() : dense.data();
            });
        }
        GgmlType main = counts.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(GgmlType.F32);
        String torchDtype = switch (main) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        };
        List<Path> files = new ArrayList<>(w.writeCheckpoint(dir, options.maxShardBytes()));
        Vocabulary v = model.vocabulary();
        Files.writeString(dir.resolve(HfConfig.FILE), HfConfig.toJson(c, v.bos(), v.eos(), torchDtype));
        HfTokenizerJsonWriter.write(v, dir, c.seqLen());
        return files;
    }
}
