package io.shardwise.core.format;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.LowRankPairs;
import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.quant.TensorConverter;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A {@link LlamaModel} as a GGUF file of llama.cpp's "llama" or "qwen2" architecture, both ways, with RoPE scaling
 * (rope.scaling.type/factor for linear; llama.cpp's {@code rope_freqs.weight} for Llama 3) and the embedded
 * tokenizer ({@link GgufVocabulary}). Token text follows llama.cpp's llama2.c converter: spaces become U+2581, and
 * BOS/EOS are written as "&lt;s&gt;"/"&lt;/s&gt;" (llama2.c pads them with newlines).
 */
public final class GgufLlama {
    static final String ARCH = "llama";
    static final String QWEN2 = "qwen2";
    /** llama.cpp's per-frequency RoPE factors tensor (Llama 3 scaling). */
    public static final String ROPE_FREQS = "rope_freqs.weight";
    /** Llama 3 scaling parameters, which rope_freqs.weight alone does not give back exactly; llama.cpp ignores them. */
    static final String LLAMA3_KEYS = "shardwise.rope.scaling.llama3.";

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
        String arch = c.arch();
        if (!ARCH.equals(arch) && !QWEN2.equals(arch)) throw new IllegalArgumentException("GGUF arch " + arch + " is not supported (llama, qwen2)");
        if (c.ropeNeox() != QWEN2.equals(arch)) throw new IllegalArgumentException("arch " + arch + " with ropeNeox " + c.ropeNeox() + " cannot be written to GGUF");
        GgufWriter w = new GgufWriter();
        Map<String, GgmlType> types = new LinkedHashMap<>();
        for (Tensor t : model.tensors().values()) types.put(t.name(), storageType(t, options.matrixType()));
        w.put("general.architecture", arch);
        w.put("general.name", options.name() == null ? "shardwise" : options.name());
        w.put(arch + ".context_length", GgufValue.u32(c.seqLen()));
        w.put(arch + ".embedding_length", GgufValue.u32(c.dim()));
        w.put(arch + ".block_count", GgufValue.u32(c.nLayers()));
        w.put(arch + ".feed_forward_length", GgufValue.u32(c.hiddenDim()));
        w.put(arch + ".attention.head_count", GgufValue.u32(c.nHeads()));
        w.put(arch + ".attention.head_count_kv", GgufValue.u32(c.nKvHeads()));
        w.put(arch + ".rope.dimension_count", GgufValue.u32(c.headSize()));
        if (c.explicitHeadDim()) { // llama.cpp reads the head width from these when it is not embedding_length / head_count
            w.put(arch + ".attention.key_length", GgufValue.u32(c.headSize()));
            w.put(arch + ".attention.value_length", GgufValue.u32(c.headSize()));
        }
        w.put(arch + ".attention.layer_norm_rms_epsilon", GgufValue.f32(c.normEps()));
        w.put(arch + ".rope.freq_base", GgufValue.f32(c.ropeTheta()));
        w.put(arch + ".vocab_size", GgufValue.u32(c.vocabSize()));
        RopeScaling rs = c.ropeScaling();
        if (rs.type() == RopeScaling.Type.LINEAR) {
            w.put(arch + ".rope.scaling.type", "linear");
            w.put(arch + ".rope.scaling.factor", GgufValue.f32(rs.factor()));
        } else if (rs.type() == RopeScaling.Type.LLAMA3) {
            w.put(LLAMA3_KEYS + "factor", GgufValue.f32(rs.factor()));
            w.put(LLAMA3_KEYS + "low_freq_factor", GgufValue.f32(rs.lowFreqFactor()));
            w.put(LLAMA3_KEYS + "high_freq_factor", GgufValue.f32(rs.highFreqFactor()));
            w.put(LLAMA3_KEYS + "original_context_length", GgufValue.u32(rs.originalContext()));
        }
        w.put("general.file_type", GgufValue.u32(fileType(types)));
        if (types.values().stream().anyMatch(GgmlType::isQuantized)) w.put("general.quantization_version", GgufValue.u32(2));
        GgufVocabulary.put(w, model.vocabulary());
        if (rs.type() == RopeScaling.Type.LLAMA3 && !model.tensors().containsKey(ROPE_FREQS)) {
            w.tensor(Tensor.ofFloats(ROPE_FREQS, new long[]{c.headSize() / 2}, ropeFactors(rs, c.headSize(), c.ropeTheta())));
        }
        for (Tensor t : model.tensors().values()) {
            GgmlType target = types.get(t.name());
            if (t.type() == target) {
                w.tensor(t);
            } else {
                if (t.type() instanceof GgmlType) w.tensor(t, target); // a row chunk at a time: no buffer the tensor's size
                else w.tensor(t.name(), target, t.shape(), scratch -> TensorConverter.convert(t, target, scratch).data());
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

    /** Maps and reads a GGUF Llama model; tensors stay views of the file while {@code arena} is open. */
    public static LlamaModel read(Path file, Arena arena) throws IOException {
        return read(GgufFile.read(file, arena));
    }

    public static LlamaModel read(GgufFile f) throws ModelFormatException {
        String src = f.source();
        String arch = f.string("general.architecture");
        if (!ARCH.equals(arch) && !QWEN2.equals(arch)) {
            throw new ModelFormatException(src + ": GGUF general.architecture '" + arch + "' is not supported (Shardwise reads 'llama' and 'qwen2')");
        }
        String p = arch + ".";
        int dim = (int) f.integer(p + "embedding_length", 1, 1 << 20);
        int hidden = (int) f.integer(p + "feed_forward_length", 1, 1 << 22);
        int layers = (int) f.integer(p + "block_count", 1, 1 << 12);
        int heads = (int) f.integer(p + "attention.head_count", 1, 1 << 14);
        int kvHeads = (int) f.integer(p + "attention.head_count_kv", 1, 1 << 14, heads);
        int ctx = (int) f.integer(p + "context_length", 1, 1 << 30);
        float theta = (float) f.real(p + "rope.freq_base", 10000.0);
        float eps = (float) f.real(p + "attention.layer_norm_rms_epsilon");
        int headDim = headDim(f, p, dim, heads);
        if (f.has(p + "rope.dimension_count") && headDim > 0 && f.integer(p + "rope.dimension_count", 0, 1 << 20) != headDim) {
            throw new ModelFormatException(src + ": GGUF " + p + "rope.dimension_count " + f.integer(p + "rope.dimension_count", 0, 1 << 20)
                    + " differs from the head size " + headDim + " (partial RoPE is not supported)");
        }
        Tensor embd = f.tensors().get(TensorNames.TOKEN_EMBD);
        if (embd == null) throw new ModelFormatException(src + ": GGUF tensor " + TensorNames.TOKEN_EMBD + " is missing");
        if (embd.shape().length != 2) throw new ModelFormatException(src + ": GGUF tensor " + TensorNames.TOKEN_EMBD + " has shape " + Arrays.toString(embd.shape()) + ", expected 2 dims");
        Vocabulary vocab = GgufVocabulary.read(f, embd.shape()[1]);
        boolean tied = !f.tensors().containsKey(TensorNames.OUTPUT) && !f.tensors().containsKey(TensorNames.loraA(TensorNames.OUTPUT));
        boolean qwen = QWEN2.equals(arch);
        LlamaConfig c;
        try {
            RopeScaling scaling = GgufRopeScaling.read(f, p, headDim, theta);
            // llama.cpp's llama arch takes optional q/k/v biases (HF attention_bias); qwen2 always has them
            boolean bias = qwen || f.tensors().containsKey("blk.0.attn_q.bias");
            c = new LlamaConfig(dim, hidden, layers, heads, kvHeads, vocab.size(), ctx, theta, eps, tied, arch, qwen, scaling, bias, headDim);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(src + ": GGUF " + arch + " hyper-parameters: " + e.getMessage());
        }
        Map<String, long[]> expected = expectedShapes(c);
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            Tensor t = f.tensors().get(e.getKey());
            if (t == null && f.tensors().containsKey(TensorNames.loraA(e.getKey()))) continue; // replaced by low-rank factors (LowRankPairs)
            if (t == null) throw new ModelFormatException(src + ": GGUF tensor " + e.getKey() + " is missing");
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new ModelFormatException(src + ": GGUF tensor " + e.getKey() + " has shape " + Arrays.toString(t.shape())
                        + ", the metadata implies " + Arrays.toString(e.getValue()));
            }
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>(); // file order, so that re-writing gives the same file
        for (Tensor t : f.tensors().values()) if (expected.containsKey(t.name()) || LowRankPairs.isFactor(t.name())) tensors.put(t.name(), t);
        return new LlamaModel(c, vocab, tensors);
    }

    /**
     * The head width: attention.key_length when present (it must equal attention.value_length, as the runtime keeps one
     * width), else embedding_length / head_count (0 when that does not divide, which the config then refuses).
     */
    private static int headDim(GgufFile f, String p, int dim, int heads) throws ModelFormatException {
        if (!f.has(p + "attention.key_length")) return dim % heads == 0 ? dim / heads : 0;
        int k = (int) f.integer(p + "attention.key_length", 1, 1 << 16);
        int v = (int) f.integer(p + "attention.value_length", 1, 1 << 16, k);
        if (k != v) throw new ModelFormatException(f.source() + ": GGUF " + p + "attention.key_length " + k + " differs from " + p + "attention.value_length " + v + " (not supported)");
        return k;
    }

    /** llama.cpp's rope_freqs values (convert_hf_to_gguf.py LlamaModel.generate_extra_tensors): the divisor of each pair's frequency. */
    static float[] ropeFactors(RopeScaling rs, int headSize, float theta) {
        float[] f = new float[headSize / 2];
        for (int i = 0; i < f.length; i++) f[i] = (float) (Math.pow(theta, -2.0 * i / headSize) / rs.frequency(i, headSize, theta));
        return f;
    }

    /** Every tensor a Llama model of this config has, with its ggml shape, in llama2.c's order (q/k/v biases after v when present). */
    public static Map<String, long[]> expectedShapes(LlamaConfig c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long dim = c.dim(), qd = c.qDim(), hid = c.hiddenDim(), kv = c.kvDim();
        m.put(TensorNames.TOKEN_EMBD, new long[]{dim, c.vocabSize()});
        for (int l = 0; l < c.nLayers(); l++) {
            m.put(TensorNames.attnNorm(l), new long[]{dim});
            m.put(TensorNames.attnQ(l), new long[]{dim, qd});
            m.put(TensorNames.attnK(l), new long[]{dim, kv});
            m.put(TensorNames.attnV(l), new long[]{dim, kv});
            if (c.attentionBias()) {
                m.put("blk." + l + ".attn_q.bias", new long[]{qd});
                m.put("blk." + l + ".attn_k.bias", new long[]{kv});
                m.put("blk." + l + ".attn_v.bias", new long[]{kv});
            }
            m.put(TensorNames.attnOutput(l), new long[]{qd, dim});
            m.put(TensorNames.ffnNorm(l), new long[]{dim});
            m.put(TensorNames.ffnGate(l), new long[]{dim, hid});
            m.put(TensorNames.ffnDown(l), new long[]{hid, dim});
            m.put(TensorNames.ffnUp(l), new long[]{dim, hid});
        }
        m.put(TensorNames.OUTPUT_NORM, new long[]{dim});
        if (!c.tiedEmbeddings()) m.put(TensorNames.OUTPUT, new long[]{dim, c.vocabSize()});
        return m;
    }
}
