package io.shardwise.core.format;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.quant.TensorConverter;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link LlamaModel} as a GGUF file of llama.cpp's "llama" architecture and SentencePiece ("llama")
 * vocabulary, both ways. Token text follows llama.cpp's llama2.c converter: spaces become U+2581, and
 * BOS/EOS are written as "&lt;s&gt;"/"&lt;/s&gt;" (llama2.c pads them with newlines).
 */
public final class GgufLlama {
    static final String ARCH = "llama";
    static final char SPACE_MARK = '\u2581';
    /** Far above real vocabularies (~256k); keeps a corrupt count from becoming a huge token list. */
    static final long MAX_VOCAB = 1 << 24;
    static final int TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6;

    private GgufLlama() {
    }

    /**
     * How to write: {@code name} goes to general.name; {@code matrixType}, when set, re-encodes every
     * matrix (2+ dims) to it, or to F16 where its rows do not fit the blocks; null keeps stored types.
     * Tensors in Shardwise-only types (per-channel ints) are written dequantized as F32 then.
     */
    public record WriteOptions(String name, GgmlType matrixType) {
        public static WriteOptions keepTypes(String name) {
            return new WriteOptions(name, null);
        }
    }

    public static void write(LlamaModel model, Path file, WriteOptions options) throws IOException {
        writer(model, options).write(file);
    }

    /** A writer holding the model's metadata and tensors; callers may add metadata before writing. */
    public static GgufWriter writer(LlamaModel model, WriteOptions options) {
        LlamaConfig c = model.config();
        GgufWriter w = new GgufWriter();
        Map<String, GgmlType> types = new LinkedHashMap<>();
        for (Tensor t : model.tensors().values()) types.put(t.name(), storageType(t, options.matrixType()));
        w.put("general.architecture", ARCH);
        w.put("general.name", options.name() == null ? "shardwise" : options.name());
        w.put(ARCH + ".context_length", GgufValue.u32(c.seqLen()));
        w.put(ARCH + ".embedding_length", GgufValue.u32(c.dim()));
        w.put(ARCH + ".block_count", GgufValue.u32(c.nLayers()));
        w.put(ARCH + ".feed_forward_length", GgufValue.u32(c.hiddenDim()));
        w.put(ARCH + ".attention.head_count", GgufValue.u32(c.nHeads()));
        w.put(ARCH + ".attention.head_count_kv", GgufValue.u32(c.nKvHeads()));
        w.put(ARCH + ".rope.dimension_count", GgufValue.u32(c.headSize()));
        w.put(ARCH + ".attention.layer_norm_rms_epsilon", GgufValue.f32(c.normEps()));
        w.put(ARCH + ".rope.freq_base", GgufValue.f32(c.ropeTheta()));
        w.put(ARCH + ".vocab_size", GgufValue.u32(c.vocabSize()));
        w.put("general.file_type", GgufValue.u32(fileType(types)));
        if (types.values().stream().anyMatch(GgmlType::isQuantized)) w.put("general.quantization_version", GgufValue.u32(2));
        putVocabulary(w, model.vocabulary());
        for (Tensor t : model.tensors().values()) {
            GgmlType target = types.get(t.name());
            if (t.type() == target) {
                w.tensor(t);
            } else {
                w.tensor(t.name(), target, t.shape(), scratch -> TensorConverter.convert(t, target, scratch).data());
            }
        }
        return w;
    }

    static GgmlType storageType(Tensor t, GgmlType matrixType) {
        if (matrixType != null && t.shape().length >= 2) return TensorConverter.storableType(matrixType, t.shape()[0]);
        return t.type() instanceof GgmlType g ? g : GgmlType.F32;
    }

    /** llama.cpp's general.file_type (enum llama_ftype) for the type most matrices have. */
    static int fileType(Map<String, GgmlType> types) {
        Map<GgmlType, Integer> counts = new HashMap<>();
        for (Map.Entry<String, GgmlType> e : types.entrySet()) {
            if (!e.getKey().endsWith("_norm.weight")) counts.merge(e.getValue(), 1, Integer::sum);
        }
        GgmlType most = counts.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(GgmlType.F32);
        return switch (most) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q2_K -> 10;
            case Q3_K -> 12;
            case Q4_K -> 15;
            case Q5_K -> 17;
            case Q6_K -> 18;
            case IQ4_NL -> 25;
            case BF16 -> 32;
            default -> 0;
        };
    }

    static void putVocabulary(GgufWriter w, Vocabulary v) {
        int n = v.size();
        int unk = v.tokens().indexOf("<unk>");
        List<String> texts = new ArrayList<>(n);
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            String t = v.tokens().get(i);
            boolean control = i == v.bos() || i == v.eos();
            if (control) t = t.strip();
            texts.add(t.replace(' ', SPACE_MARK));
            types[i] = i == unk ? TOKEN_UNKNOWN : control || t.isEmpty() ? TOKEN_CONTROL : isByteToken(t) ? TOKEN_BYTE : TOKEN_NORMAL;
        }
        w.put("tokenizer.ggml.model", "llama");
        w.put("tokenizer.ggml.tokens", GgufValue.Array.ofStrings(texts));
        w.put("tokenizer.ggml.scores", GgufValue.Array.ofFloats(v.scores()));
        w.put("tokenizer.ggml.token_type", GgufValue.Array.ofInts(types));
        w.put("tokenizer.ggml.bos_token_id", GgufValue.u32(v.bos()));
        w.put("tokenizer.ggml.eos_token_id", GgufValue.u32(v.eos()));
        if (unk >= 0) w.put("tokenizer.ggml.unknown_token_id", GgufValue.u32(unk));
        w.put("tokenizer.ggml.add_bos_token", GgufValue.of(true));
    }

    static boolean isByteToken(String t) {
        return t.length() == 6 && t.startsWith("<0x") && t.endsWith(">") && isHex(t.charAt(3)) && isHex(t.charAt(4));
    }

    private static boolean isHex(char ch) {
        return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F') || (ch >= 'a' && ch <= 'f');
    }

    /** Maps and reads a GGUF Llama model; tensors stay views of the file while {@code arena} is open. */
    public static LlamaModel read(Path file, Arena arena) throws IOException {
        return read(GgufFile.read(file, arena));
    }

    public static LlamaModel read(GgufFile f) throws ModelFormatException {
        String src = f.source();
        String arch = f.string("general.architecture");
        if (!ARCH.equals(arch)) throw new ModelFormatException(src + ": GGUF general.architecture '" + arch + "' is not supported (Shardwise reads 'llama')");
        String p = ARCH + ".";
        int dim = (int) f.integer(p + "embedding_length", 1, 1 << 20);
        int hidden = (int) f.integer(p + "feed_forward_length", 1, 1 << 22);
        int layers = (int) f.integer(p + "block_count", 1, 1 << 12);
        int heads = (int) f.integer(p + "attention.head_count", 1, 1 << 14);
        int kvHeads = (int) f.integer(p + "attention.head_count_kv", 1, 1 << 14, heads);
        int ctx = (int) f.integer(p + "context_length", 1, 1 << 30);
        float theta = (float) f.real(p + "rope.freq_base", 10000.0);
        float eps = (float) f.real(p + "attention.layer_norm_rms_epsilon");
        if (f.has(p + "rope.dimension_count") && heads > 0 && dim % heads == 0
                && f.integer(p + "rope.dimension_count", 0, 1 << 20) != dim / heads) {
            throw new ModelFormatException(src + ": GGUF " + p + "rope.dimension_count " + f.integer(p + "rope.dimension_count", 0, 1 << 20)
                    + " differs from the head size " + dim / heads + " (partial RoPE is not supported)");
        }
        if (f.has(p + "rope.scaling.type") && !"none".equals(f.string(p + "rope.scaling.type"))) {
            throw new ModelFormatException(src + ": GGUF " + p + "rope.scaling.type '" + f.string(p + "rope.scaling.type") + "' is not supported");
        }
        Tensor embd = f.tensors().get(TensorNames.TOKEN_EMBD);
        if (embd == null) throw new ModelFormatException(src + ": GGUF tensor " + TensorNames.TOKEN_EMBD + " is missing");
        if (embd.shape().length != 2) throw new ModelFormatException(src + ": GGUF tensor " + TensorNames.TOKEN_EMBD + " has shape " + Arrays.toString(embd.shape()) + ", expected 2 dims");
        Vocabulary vocab = readVocabulary(f, embd.shape()[1]);
        boolean tied = !f.tensors().containsKey(TensorNames.OUTPUT);
        LlamaConfig c;
        try {
            c = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab.size(), ctx, theta, eps, tied);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(src + ": GGUF llama hyper-parameters: " + e.getMessage());
        }
        Map<String, long[]> expected = expectedShapes(c);
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = f.tensors().get(e.getKey());
            if (t == null) throw new ModelFormatException(src + ": GGUF tensor " + e.getKey() + " is missing");
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new ModelFormatException(src + ": GGUF tensor " + e.getKey() + " has shape " + Arrays.toString(t.shape())
                        + ", the metadata implies " + Arrays.toString(e.getValue()));
            }
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>(); // file order, so that re-writing gives the same file
        for (Tensor t : f.tensors().values()) if (expected.containsKey(t.name())) tensors.put(t.name(), t);
        return new LlamaModel(c, vocab, tensors);
    }

    /** Every tensor a Llama model of this config has, with its ggml shape, in llama2.c's order. */
    static Map<String, long[]> expectedShapes(LlamaConfig c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long dim = c.dim(), hid = c.hiddenDim(), kv = c.kvDim();
        m.put(TensorNames.TOKEN_EMBD, new long[]{dim, c.vocabSize()});
        for (int l = 0; l < c.nLayers(); l++) {
            m.put(TensorNames.attnNorm(l), new long[]{dim});
            m.put(TensorNames.attnQ(l), new long[]{dim, dim});
            m.put(TensorNames.attnK(l), new long[]{dim, kv});
            m.put(TensorNames.attnV(l), new long[]{dim, kv});
            m.put(TensorNames.attnOutput(l), new long[]{dim, dim});
            m.put(TensorNames.ffnNorm(l), new long[]{dim});
            m.put(TensorNames.ffnGate(l), new long[]{dim, hid});
            m.put(TensorNames.ffnDown(l), new long[]{hid, dim});
            m.put(TensorNames.ffnUp(l), new long[]{dim, hid});
        }
        m.put(TensorNames.OUTPUT_NORM, new long[]{dim});
        if (!c.tiedEmbeddings()) m.put(TensorNames.OUTPUT, new long[]{dim, c.vocabSize()});
        return m;
    }

    static Vocabulary readVocabulary(GgufFile f, long embeddingRows) throws ModelFormatException {
        String src = f.source();
        String model = f.string("tokenizer.ggml.model");
        if (!"llama".equals(model)) {
            throw new ModelFormatException(src + ": GGUF tokenizer.ggml.model '" + model + "' is not supported (Shardwise reads SentencePiece 'llama' vocabularies)");
        }
        GgufValue.Array tokens = f.array("tokenizer.ggml.tokens", GgufValueType.STRING);
        if (tokens.count() != embeddingRows) {
            throw new ModelFormatException(src + ": GGUF tokenizer.ggml.tokens has " + tokens.count() + " tokens but " + TensorNames.TOKEN_EMBD + " has " + embeddingRows + " rows");
        }
        if (tokens.count() > MAX_VOCAB) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.tokens has " + tokens.count() + " tokens, more than " + MAX_VOCAB);
        int n = tokens.size();
        float[] scores = new float[n];
        if (f.has("tokenizer.ggml.scores")) {
            GgufValue.Array s = f.array("tokenizer.ggml.scores", GgufValueType.FLOAT32);
            if (s.count() != n) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.scores has " + s.count() + " entries for " + n + " tokens");
            scores = s.floats();
        }
        int bos = (int) f.integer("tokenizer.ggml.bos_token_id", 0, n - 1, 1);
        int eos = (int) f.integer("tokenizer.ggml.eos_token_id", 0, n - 1, 2);
        List<String> texts = new ArrayList<>(n);
        int maxLen = 0;
        for (String t : tokens.strings()) {
            String s = t.replace(SPACE_MARK, ' ');
            texts.add(s);
            maxLen = Math.max(maxLen, s.getBytes(StandardCharsets.UTF_8).length);
        }
        return new Vocabulary(texts, scores, maxLen, bos, eos);
    }
}
