package io.shardwise.core.format;

import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tokenizer.PreTokenizer;
import io.shardwise.core.tokenizer.SentencePieceBpeTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The GGUF-embedded tokenizer (llama.cpp's tokenizer.ggml.* keys) both ways: model "llama" (SentencePiece: tokens
 * with U+2581 for spaces, scores, token types) and model "gpt2" (byte-level BPE: tokens, token types, merges and the
 * pre-tokenizer name in tokenizer.ggml.pre). A SentencePiece vocabulary read from a tokenizer.json keeps its merges and
 * prefix mode in tokenizer.ggml.merges / tokenizer.ggml.pre, which llama.cpp ignores for "llama".
 */
final class GgufVocabulary {
    static final char SPACE_MARK = '\u2581';
    /** Far above real vocabularies (~256k); keeps a corrupt count from becoming a huge token list. */
    static final long MAX_VOCAB = 1 << 24;

    private GgufVocabulary() {
    }

    static void put(GgufWriter w, Vocabulary v) {
        int n = v.size();
        int[] types = Tokenizers.tokenTypes(v);
        boolean sp = v.kind() == Vocabulary.Kind.SENTENCEPIECE;
        List<String> texts = new ArrayList<>(n);
        int unk = -1;
        for (int i = 0; i < n; i++) {
            String t = Tokenizers.text(v, i);
            texts.add(sp ? t.replace(' ', SPACE_MARK) : t);
            if (types[i] == Vocabulary.TYPE_UNKNOWN && unk < 0) unk = i;
        }
        w.put("tokenizer.ggml.model", sp ? "llama" : "gpt2");
        if (!v.preTokenizer().isEmpty()) w.put("tokenizer.ggml.pre", v.preTokenizer());
        w.put("tokenizer.ggml.tokens", GgufValue.Array.ofStrings(texts));
        if (sp) w.put("tokenizer.ggml.scores", GgufValue.Array.ofFloats(v.scores()));
        w.put("tokenizer.ggml.token_type", GgufValue.Array.ofInts(types));
        if (!v.merges().isEmpty()) w.put("tokenizer.ggml.merges", GgufValue.Array.ofStrings(v.merges()));
        w.put("tokenizer.ggml.bos_token_id", GgufValue.u32(v.bos()));
        w.put("tokenizer.ggml.eos_token_id", GgufValue.u32(v.eos()));
        if (unk >= 0) w.put("tokenizer.ggml.unknown_token_id", GgufValue.u32(unk));
        w.put("tokenizer.ggml.add_bos_token", GgufValue.of(v.addBos()));
    }

    static Vocabulary read(GgufFile f, long embeddingRows) throws ModelFormatException {
        String src = f.source();
        String model = f.string("tokenizer.ggml.model");
        boolean sp = "llama".equals(model);
        if (!sp && !"gpt2".equals(model)) {
            throw new ModelFormatException(src + ": GGUF tokenizer.ggml.model '" + model + "' is not supported (Shardwise reads 'llama' SentencePiece and 'gpt2' byte-level BPE)");
        }
        GgufValue.Array tokens = f.array("tokenizer.ggml.tokens", GgufValueType.STRING);
        if (tokens.count() > MAX_VOCAB) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.tokens has " + tokens.count() + " tokens, more than " + MAX_VOCAB);
        if (tokens.count() != embeddingRows) {
            throw new ModelFormatException(src + ": GGUF tokenizer.ggml.tokens has " + tokens.count() + " tokens but token_embd.weight has " + embeddingRows + " rows");
        }
        int n = tokens.size();
        float[] scores = new float[n];
        if (f.has("tokenizer.ggml.scores")) {
            GgufValue.Array s = f.array("tokenizer.ggml.scores", GgufValueType.FLOAT32);
            if (s.count() != n) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.scores has " + s.count() + " entries for " + n + " tokens");
            scores = s.floats();
        }
        int[] types = new int[0];
        if (f.has("tokenizer.ggml.token_type")) {
            GgufValue.Array t = f.array("tokenizer.ggml.token_type", GgufValueType.INT32);
            if (t.count() != n) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.token_type has " + t.count() + " entries for " + n + " tokens");
            types = t.ints();
            for (int i = 0; i < n; i++) {
                if (types[i] < 0 || types[i] > Vocabulary.TYPE_BYTE) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.token_type[" + i + "] = " + types[i] + " is not a token type (0..6)");
            }
        } else if (!sp) {
            throw new ModelFormatException(src + ": GGUF tokenizer.ggml.model 'gpt2' needs tokenizer.ggml.token_type, which is missing");
        }
        List<String> merges = List.of();
        if (f.has("tokenizer.ggml.merges")) {
            GgufValue.Array m = f.array("tokenizer.ggml.merges", GgufValueType.STRING);
            if (m.count() > MAX_VOCAB * 4) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.merges has " + m.count() + " entries");
            merges = m.strings();
        } else if (!sp) {
            throw new ModelFormatException(src + ": GGUF tokenizer.ggml.model 'gpt2' needs tokenizer.ggml.merges, which is missing");
        }
        String pre = f.has("tokenizer.ggml.pre") ? f.string("tokenizer.ggml.pre") : "";
        if (sp) {
            if (!pre.isEmpty() && SentencePieceBpeTokenizer.Prefix.byName(pre) == null) pre = ""; // llama.cpp's own names mean llama2.c-style encoding
        } else {
            PreTokenizer p = PreTokenizer.byGgufName(pre);
            if (p == null) throw new ModelFormatException(src + ": GGUF tokenizer.ggml.pre '" + pre + "' is not supported (supported: gpt2, llama-bpe, qwen2)");
            pre = p.ggufName;
        }
        int bos = (int) f.integer("tokenizer.ggml.bos_token_id", 0, n - 1, sp ? 1 : 0);
        int eos = (int) f.integer("tokenizer.ggml.eos_token_id", 0, n - 1, sp ? 2 : 0);
        boolean addBos = f.has("tokenizer.ggml.add_bos_token") ? bool(f, "tokenizer.ggml.add_bos_token") : sp;
        List<String> texts = new ArrayList<>(n);
        int maxLen = 0;
        for (String t : tokens.strings()) {
            String s = sp ? t.replace(SPACE_MARK, ' ') : t;
            texts.add(s);
            maxLen = Math.max(maxLen, s.getBytes(StandardCharsets.UTF_8).length);
        }
        if (sp && merges.isEmpty() && pre.isEmpty()) {
            // llama2.c-style: exactly what earlier readers returned, so existing callers see no change
            return new Vocabulary(texts, scores, maxLen, bos, eos, Vocabulary.Kind.SENTENCEPIECE, List.of(), types, "", addBos);
        }
        Vocabulary v = new Vocabulary(texts, scores, maxLen, bos, eos, sp ? Vocabulary.Kind.SENTENCEPIECE : Vocabulary.Kind.BYTE_LEVEL_BPE, merges, types, pre, addBos);
        try {
            Tokenizers.forVocabulary(v);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(src + ": GGUF tokenizer.ggml.merges: " + e.getMessage());
        }
        return v;
    }

    private static boolean bool(GgufFile f, String key) throws ModelFormatException {
        GgufValue v = f.metadata().get(key);
        if (v instanceof GgufValue.Bool b) return b.value();
        throw new ModelFormatException(f.source() + ": GGUF metadata " + key + " should be a BOOL, found " + v.type());
    }
}
