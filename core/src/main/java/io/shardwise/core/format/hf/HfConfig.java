package io.shardwise.core.format.hf;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.RopeScaling;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * HF {@code config.json} of the Llama family (transformers' LlamaConfig, MistralConfig, Qwen2Config) to and
 * from {@link LlamaConfig}. Llama and Mistral become GGUF arch "llama" (interleaved RoPE after the q/k
 * permutation), Qwen2 arch "qwen2" (NEOX RoPE, q/k/v biases). Anything the runtime cannot honour is refused.
 */
public final class HfConfig {
    public static final String FILE = "config.json";

    /** The HF architectures Shardwise reads. */
    public enum Architecture {
        LLAMA("LlamaForCausalLM", "llama"),
        MISTRAL("MistralForCausalLM", "mistral"),
        QWEN2("Qwen2ForCausalLM", "qwen2");

        public final String className;
        public final String modelType;

        Architecture(String className, String modelType) {
            this.className = className;
            this.modelType = modelType;
        }
    }

    /** A parsed config: the model config plus the special token ids config.json carries (-1 when absent). */
    public record Parsed(LlamaConfig config, Architecture architecture, int bosTokenId, int eosTokenId) {
    }

    private HfConfig() {
    }

    public static Parsed read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new NoSuchFileException(file.toString(), null, "HF config.json does not exist");
        return parse(Files.readString(file), file.toString());
    }

    public static Parsed parse(String json, String source) throws ModelFormatException {
        JsonNode root;
        try {
            root = SafetensorsFile.JSON.readTree(json);
        } catch (JacksonException e) {
            throw new ModelFormatException(source + ": config.json is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw new ModelFormatException(source + ": config.json must be a JSON object");
        Fields f = new Fields(root, source);
        Architecture arch = architecture(root, source);
        int dim = f.integer("hidden_size", null);
        int heads = f.integer("num_attention_heads", null);
        int kvHeads = f.integer("num_key_value_heads", heads);
        int hidden = f.integer("intermediate_size", null);
        int layers = f.integer("num_hidden_layers", null);
        int vocab = f.integer("vocab_size", null);
        int ctx = f.integer("max_position_embeddings", 2048);
        double theta = f.real("rope_theta", 10000.0);
        double eps = f.real("rms_norm_eps", 1e-6);
        boolean tied = f.bool("tie_word_embeddings", false);
        int headDim = root.hasNonNull("head_dim") ? f.integer("head_dim", null) : 0; // absent: hidden_size / num_attention_heads
        String act = root.hasNonNull("hidden_act") ? root.get("hidden_act").asText() : "silu";
        if (!"silu".equals(act)) throw new ModelFormatException(source + ": config.json hidden_act '" + act + "' is not supported (silu only)");
        if (f.bool("mlp_bias", false)) throw new ModelFormatException(source + ": config.json mlp_bias true is not supported");
        boolean bias = arch == Architecture.QWEN2 || f.bool("attention_bias", false);
        RopeScaling scaling = ropeScaling(root.get("rope_scaling"), source);
        String ggufArch = arch == Architecture.QWEN2 ? "qwen2" : LlamaConfig.LLAMA;
        LlamaConfig c;
        try {
            c = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab, ctx, (float) theta, (float) eps, tied,
                    ggufArch, arch == Architecture.QWEN2, scaling, bias, headDim);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": config.json: " + e.getMessage());
        }
        return new Parsed(c, arch, f.tokenId("bos_token_id"), f.tokenId("eos_token_id"));
    }

    private static Architecture architecture(JsonNode root, String source) throws ModelFormatException {
        JsonNode archs = root.get("architectures");
        String name = archs != null && archs.isArray() && !archs.isEmpty() ? archs.get(0).asText() : null;
        String modelType = root.hasNonNull("model_type") ? root.get("model_type").asText() : null;
        for (Architecture a : Architecture.values()) {
            if (a.className.equals(name) || (name == null && a.modelType.equals(modelType))) return a;
        }
        throw new ModelFormatException(source + ": config.json architectures " + (archs == null ? "(absent)" : archs)
                + ", model_type " + modelType + " is not supported (supported: "
                + List.of(Architecture.values()).stream().map(a -> a.className).toList() + ")");
    }

    static RopeScaling ropeScaling(JsonNode r, String source) throws ModelFormatException {
        if (r == null || r.isNull()) return RopeScaling.NONE;
        if (!r.isObject()) throw new ModelFormatException(source + ": config.json rope_scaling must be an object or null");
        JsonNode t = r.hasNonNull("rope_type") ? r.get("rope_type") : r.get("type");
        String type = t == null ? "default" : t.asText();
        Fields f = new Fields(r, source + ": config.json rope_scaling");
        try {
            return switch (type) {
                case "default" -> RopeScaling.NONE;
                case "linear" -> RopeScaling.linear((float) f.real("factor", null));
                case "llama3" -> RopeScaling.llama3((float) f.real("factor", null), (float) f.real("low_freq_factor", 1.0),
                        (float) f.real("high_freq_factor", 4.0), f.integer("original_max_position_embeddings", 8192));
                default -> throw new ModelFormatException(source + ": config.json rope_scaling type '" + type + "' is not supported (supported: default, linear, llama3)");
            };
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": config.json rope_scaling: " + e.getMessage());
        }
    }

    /** config.json for {@code c} as transformers writes it (dtype of the weights in torch_dtype). */
    public static String toJson(LlamaConfig c, int bos, int eos, String torchDtype) {
        boolean qwen = "qwen2".equals(c.arch());
        if (!qwen && !LlamaConfig.LLAMA.equals(c.arch())) throw new IllegalArgumentException("no HF architecture for GGUF arch " + c.arch());
        if (c.ropeNeox() != qwen) throw new IllegalArgumentException("arch " + c.arch() + " with ropeNeox " + c.ropeNeox() + " has no HF equivalent");
        Architecture a = qwen ? Architecture.QWEN2 : Architecture.LLAMA;
        ObjectNode o = SafetensorsFile.JSON.createObjectNode();
        o.putArray("architectures").add(a.className);
        o.put("model_type", a.modelType);
        o.put("hidden_size", c.dim());
        o.put("intermediate_size", c.hiddenDim());
        o.put("num_hidden_layers", c.nLayers());
        o.put("num_attention_heads", c.nHeads());
        o.put("num_key_value_heads", c.nKvHeads());
        o.put("head_dim", c.headSize());
        o.put("vocab_size", c.vocabSize());
        o.put("max_position_embeddings", c.seqLen());
        o.put("rope_theta", (double) c.ropeTheta());
        o.put("rms_norm_eps", (double) c.normEps());
        o.put("tie_word_embeddings", c.tiedEmbeddings());
        o.put("hidden_act", "silu");
        if (!qwen) {
            o.put("attention_bias", c.attentionBias());
            o.put("mlp_bias", false);
        } else if (!c.attentionBias()) {
            throw new IllegalArgumentException("a qwen2 model without attention biases has no HF equivalent");
        }
        if (bos >= 0) o.put("bos_token_id", bos);
        if (eos >= 0) o.put("eos_token_id", eos);
        RopeScaling s = c.ropeScaling();
        switch (s.type()) {
            case NONE -> o.putNull("rope_scaling");
            case LINEAR -> o.putObject("rope_scaling").put("rope_type", "linear").put("factor", (double) s.factor());
            case LLAMA3 -> o.putObject("rope_scaling").put("rope_type", "llama3").put("factor", (double) s.factor())
                    .put("low_freq_factor", (double) s.lowFreqFactor()).put("high_freq_factor", (double) s.highFreqFactor())
                    .put("original_max_position_embeddings", s.originalContext());
        }
        o.put("torch_dtype", torchDtype);
        o.put("use_cache", true);
        try {
            return SafetensorsFile.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
        } catch (JacksonException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Typed, range-checked access to a JSON object's fields; errors name the source and the field. */
    private record Fields(JsonNode o, String source) {
        int integer(String key, Integer fallback) throws ModelFormatException {
            JsonNode v = o.get(key);
            if (v == null || v.isNull()) {
                if (fallback == null) throw new ModelFormatException(source + ": " + key + " is missing");
                return fallback;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() <= 0) throw new ModelFormatException(source + ": " + key + " " + v + " is not a positive integer");
            return v.intValue();
        }

        /** A token id, or -1 when absent; a list (generation eos lists) gives its first id. */
        int tokenId(String key) throws ModelFormatException {
            JsonNode v = o.get(key);
            if (v != null && v.isArray() && !v.isEmpty()) v = v.get(0);
            if (v == null || v.isNull()) return -1;
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0) throw new ModelFormatException(source + ": " + key + " " + v + " is not a token id");
            return v.intValue();
        }

        double real(String key, Double fallback) throws ModelFormatException {
            JsonNode v = o.get(key);
            if (v == null || v.isNull()) {
                if (fallback == null) throw new ModelFormatException(source + ": " + key + " is missing");
                return fallback;
            }
            if (!v.isNumber() || !Double.isFinite(v.doubleValue()) || v.doubleValue() <= 0) throw new ModelFormatException(source + ": " + key + " " + v + " is not a positive number");
            return v.doubleValue();
        }

        boolean bool(String key, boolean fallback) throws ModelFormatException {
            JsonNode v = o.get(key);
            if (v == null || v.isNull()) return fallback;
            if (!v.isBoolean()) throw new ModelFormatException(source + ": " + key + " " + v + " is not a boolean");
            return v.booleanValue();
        }
    }
}
