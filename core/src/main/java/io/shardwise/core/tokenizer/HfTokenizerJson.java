package io.shardwise.core.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.Vocabulary;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads an HF tokenizer directory into a {@link Vocabulary}: {@code tokenizer.json} (model.type BPE: byte-level
 * with a ByteLevel pre-tokenizer, or SentencePiece-style with byte_fallback and a '▁' prefix), then BOS/EOS and
 * add_bos_token from {@code tokenizer_config.json} (or the post_processor template) and the EOS id of
 * {@code generation_config.json}. Writing is {@link HfTokenizerJsonWriter}.
 */
public final class HfTokenizerJson {
    public static final String TOKENIZER = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String GENERATION_CONFIG = "generation_config.json";
    static final ObjectMapper JSON = JsonMapper.builder().build();
    /** Far above real vocabularies (~256k). */
    static final int MAX_VOCAB = 1 << 24;

    private HfTokenizerJson() {
    }

    /** Reads {@code dir}'s tokenizer files; {@code minSize} pads the vocabulary (as llama.cpp does with [PADn] tokens) to the embedding rows. */
    public static Vocabulary read(Path dir, int minSize) throws IOException {
        Path tj = dir.resolve(TOKENIZER);
        if (!Files.isRegularFile(tj)) throw new ModelFormatException(dir + ": no " + TOKENIZER);
        JsonNode config = optional(dir.resolve(TOKENIZER_CONFIG));
        JsonNode generation = optional(dir.resolve(GENERATION_CONFIG));
        return parse(tree(Files.readString(tj), tj.toString()), config, generation, minSize, tj.toString());
    }

    static JsonNode optional(Path p) throws IOException {
        return Files.isRegularFile(p) ? tree(Files.readString(p), p.toString()) : null;
    }

    static JsonNode tree(String json, String source) throws ModelFormatException {
        try {
            JsonNode n = JSON.readTree(json);
            if (n == null || !n.isObject()) throw new ModelFormatException(source + ": must be a JSON object");
            return n;
        } catch (JacksonException e) {
            throw new ModelFormatException(source + ": not valid JSON: " + e.getOriginalMessage());
        }
    }

    public static Vocabulary parse(JsonNode root, JsonNode tokConfig, JsonNode genConfig, int minSize, String src) throws ModelFormatException {
        JsonNode model = root.path("model");
        String type = model.path("type").asText("BPE");
        if (!"BPE".equals(type)) throw new ModelFormatException(src + ": model.type '" + type + "' is not supported (BPE only)");
        if (!model.path("continuing_subword_prefix").isNull() && model.has("continuing_subword_prefix")
                || !model.path("end_of_word_suffix").isNull() && model.has("end_of_word_suffix")) {
            throw new ModelFormatException(src + ": model continuing_subword_prefix / end_of_word_suffix are not supported");
        }
        JsonNode vocabNode = model.get("vocab");
        if (vocabNode == null || !vocabNode.isObject()) throw new ModelFormatException(src + ": model.vocab is missing or not an object");
        int size = minSize;
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) size = Math.max(size, id(it.next().getValue(), "model.vocab", src) + 1);
        JsonNode addedNode = root.path("added_tokens");
        for (JsonNode a : addedNode) size = Math.max(size, id(a.get("id"), "added_tokens", src) + 1);
        String[] tokens = new String[size];
        int[] types = new int[size];
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id = e.getValue().intValue();
            if (tokens[id] != null) throw new ModelFormatException(src + ": model.vocab gives id " + id + " to both '" + tokens[id] + "' and '" + e.getKey() + "'");
            tokens[id] = e.getKey();
            types[id] = Vocabulary.TYPE_NORMAL;
        }
        for (JsonNode a : addedNode) {
            int id = a.get("id").intValue();
            String content = a.path("content").asText(null);
            if (content == null || content.isEmpty()) throw new ModelFormatException(src + ": added_tokens id " + id + " has no content");
            if (tokens[id] != null && !tokens[id].equals(content)) throw new ModelFormatException(src + ": added_tokens id " + id + " '" + content + "' differs from model.vocab's '" + tokens[id] + "'");
            tokens[id] = content;
            types[id] = a.path("special").asBoolean(false) ? Vocabulary.TYPE_CONTROL : Vocabulary.TYPE_USER_DEFINED;
        }
        for (int i = 0; i < size; i++) {
            if (tokens[i] == null) {
                tokens[i] = "[PAD" + i + "]";
                types[i] = Vocabulary.TYPE_UNUSED;
            }
        }
        List<String> merges = merges(model.get("merges"), src);
        boolean byteLevel = mentions(root.get("pre_tokenizer"), "ByteLevel") || mentions(root.get("decoder"), "ByteLevel");
        Vocabulary.Kind kind;
        String pre;
        float[] scores = new float[size];
        if (byteLevel) {
            kind = Vocabulary.Kind.BYTE_LEVEL_BPE;
            pre = byteLevelPre(root.get("pre_tokenizer"), src);
            JsonNode norm = root.get("normalizer");
            boolean nfc = norm != null && !norm.isNull() && "NFC".equals(norm.path("type").asText());
            if (norm != null && !norm.isNull() && !(nfc && pre.equals(PreTokenizer.QWEN2.ggufName))) {
                throw new ModelFormatException(src + ": normalizer " + norm.path("type").asText() + " is not supported with byte-level BPE pre-tokenizer " + pre
                        + " (only Qwen2's NFC)");
            }
            if (!nfc && pre.equals(PreTokenizer.QWEN2.ggufName)) throw new ModelFormatException(src + ": Qwen2-style byte-level BPE without its NFC normalizer is not supported");
        } else {
            kind = Vocabulary.Kind.SENTENCEPIECE;
            pre = sentencePiecePrefix(root, src);
            String unk = model.path("unk_token").asText(null);
            for (int i = 0; i < size; i++) {
                if (types[i] == Vocabulary.TYPE_NORMAL && GgufByteToken.isByteToken(tokens[i])) types[i] = Vocabulary.TYPE_BYTE;
                if (tokens[i].equals(unk)) types[i] = Vocabulary.TYPE_UNKNOWN;
            }
            scoresFromMerges(tokens, merges, scores);
            for (int i = 0; i < size; i++) if (types[i] == Vocabulary.TYPE_NORMAL || types[i] == Vocabulary.TYPE_BYTE) tokens[i] = tokens[i].replace('\u2581', ' ');
        }
        List<String> list = Arrays.asList(tokens);
        int bos = specialId(tokConfig, "bos_token", list, src);
        int eos = specialId(tokConfig, "eos_token", list, src);
        Boolean addBos = tokConfig != null && tokConfig.path("add_bos_token").isBoolean() ? tokConfig.get("add_bos_token").booleanValue() : null;
        int templateBos = templateBos(root.get("post_processor"), list);
        if (addBos == null) addBos = templateBos >= 0 || (kind == Vocabulary.Kind.SENTENCEPIECE && root.path("post_processor").isNull() && bos >= 0);
        if (bos < 0) bos = templateBos;
        if (genConfig != null) {
            int ge = firstId(genConfig.get("eos_token_id"));
            if (ge >= 0 && ge < size) eos = ge;
            int gb = firstId(genConfig.get("bos_token_id"));
            if (bos < 0 && gb >= 0 && gb < size) bos = gb;
        }
        if (eos < 0) eos = bos >= 0 ? bos : 0;
        if (bos < 0) bos = eos;
        int maxLen = 0;
        for (String t : tokens) maxLen = Math.max(maxLen, t.getBytes(StandardCharsets.UTF_8).length);
        Vocabulary v = new Vocabulary(list, scores, maxLen, bos, eos, kind, merges, types, pre, addBos);
        try {
            Tokenizers.forVocabulary(v); // checks merges against the vocabulary now, naming the file
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(src + ": " + e.getMessage());
        }
        return v;
    }

    private static int id(JsonNode v, String field, String src) throws ModelFormatException {
        if (v == null || !v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0 || v.intValue() >= MAX_VOCAB) {
            throw new ModelFormatException(src + ": " + field + " has a token id " + v + " that is not in [0, " + MAX_VOCAB + ")");
        }
        return v.intValue();
    }

    private static List<String> merges(JsonNode m, String src) throws ModelFormatException {
        List<String> out = new ArrayList<>();
        if (m == null || m.isNull()) return out;
        if (!m.isArray()) throw new ModelFormatException(src + ": model.merges is not an array");
        for (JsonNode e : m) {
            if (e.isTextual()) {
                out.add(e.textValue());
            } else if (e.isArray() && e.size() == 2 && e.get(0).isTextual() && e.get(1).isTextual()) {
                if (e.get(0).textValue().contains(" ") || e.get(1).textValue().contains(" ")) {
                    throw new ModelFormatException(src + ": model.merges " + e + " has a token with a space (not supported)");
                }
                out.add(e.get(0).textValue() + " " + e.get(1).textValue());
            } else {
                throw new ModelFormatException(src + ": model.merges entry " + e + " is neither \"a b\" nor [\"a\", \"b\"]");
            }
        }
        return out;
    }

    /** True when {@code node} (a component or a Sequence of them) has one of type {@code type}. */
    static boolean mentions(JsonNode node, String type) {
        if (node == null || node.isNull()) return false;
        if (type.equals(node.path("type").asText())) return true;
        for (String k : List.of("pretokenizers", "decoders", "normalizers")) for (JsonNode c : node.path(k)) if (mentions(c, type)) return true;
        return false;
    }

    private static List<JsonNode> components(JsonNode node) {
        List<JsonNode> out = new ArrayList<>();
        if (node == null || node.isNull()) return out;
        boolean seq = "Sequence".equals(node.path("type").asText());
        if (!seq) {
            out.add(node);
            return out;
        }
        for (String k : List.of("pretokenizers", "normalizers")) for (JsonNode c : node.path(k)) out.addAll(components(c));
        return out;
    }

    private static String byteLevelPre(JsonNode pre, String src) throws ModelFormatException {
        PreTokenizer found = null;
        for (JsonNode c : components(pre)) {
            switch (c.path("type").asText()) {
                case "Split" -> {
                    String regex = c.path("pattern").path("Regex").asText(null);
                    found = regex == null ? null : PreTokenizer.byRegex(regex);
                    if (found == null) throw new ModelFormatException(src + ": pre_tokenizer Split pattern " + c.path("pattern") + " is not supported (known: GPT-2, Llama 3, Qwen2 patterns)");
                    if (!"Isolated".equals(c.path("behavior").asText("Isolated")) || c.path("invert").asBoolean(false)) {
                        throw new ModelFormatException(src + ": pre_tokenizer Split behavior " + c.path("behavior") + " is not supported (Isolated only)");
                    }
                }
                case "ByteLevel" -> {
                    if (c.path("add_prefix_space").asBoolean(false)) throw new ModelFormatException(src + ": pre_tokenizer ByteLevel add_prefix_space true is not supported");
                    if (c.path("use_regex").asBoolean(true)) {
                        if (found != null) throw new ModelFormatException(src + ": pre_tokenizer has both a Split regex and ByteLevel use_regex (not supported)");
                        found = PreTokenizer.GPT2;
                    }
                }
                case "Digits" -> throw new ModelFormatException(src + ": pre_tokenizer Digits is not supported");
                default -> throw new ModelFormatException(src + ": pre_tokenizer type '" + c.path("type").asText() + "' is not supported with byte-level BPE");
            }
        }
        if (found == null) throw new ModelFormatException(src + ": byte-level pre_tokenizer without a split regex is not supported");
        return found.ggufName;
    }

    private static String sentencePiecePrefix(JsonNode root, String src) throws ModelFormatException {
        JsonNode pre = root.get("pre_tokenizer");
        for (JsonNode c : components(pre)) {
            if (!"Metaspace".equals(c.path("type").asText())) {
                throw new ModelFormatException(src + ": pre_tokenizer type '" + c.path("type").asText() + "' is not supported with SentencePiece BPE (Metaspace only)");
            }
            if (c.path("split").asBoolean(false)) throw new ModelFormatException(src + ": pre_tokenizer Metaspace split true is not supported");
            String scheme = c.has("prepend_scheme") ? c.path("prepend_scheme").asText() : c.path("add_prefix_space").asBoolean(true) ? "always" : "never";
            SentencePieceBpeTokenizer.Prefix p = SentencePieceBpeTokenizer.Prefix.byName("metaspace-" + scheme);
            if (p == null) throw new ModelFormatException(src + ": pre_tokenizer Metaspace prepend_scheme '" + scheme + "' is unknown");
            return p.preTokenizerName;
        }
        boolean prepend = false, replace = false;
        for (JsonNode c : components(root.get("normalizer"))) {
            switch (c.path("type").asText()) {
                case "Prepend" -> prepend = "\u2581".equals(c.path("prepend").asText());
                case "Replace" -> replace = " ".equals(c.path("pattern").path("String").asText()) && "\u2581".equals(c.path("content").asText());
                default -> throw new ModelFormatException(src + ": normalizer type '" + c.path("type").asText() + "' is not supported");
            }
        }
        if (!replace) throw new ModelFormatException(src + ": SentencePiece-style tokenizer without Metaspace or a Replace(' ', '\u2581') normalizer is not supported");
        return prepend ? SentencePieceBpeTokenizer.Prefix.PREPEND.preTokenizerName : SentencePieceBpeTokenizer.Prefix.NEVER.preTokenizerName;
    }

    /** SentencePiece-like scores: -rank of the first merge that makes a token, -1e10 for tokens no merge makes. */
    private static void scoresFromMerges(String[] tokens, List<String> merges, float[] scores) {
        Map<String, Integer> ids = new java.util.HashMap<>();
        for (int i = 0; i < tokens.length; i++) ids.putIfAbsent(tokens[i], i);
        Arrays.fill(scores, -1e10f);
        for (int i = 0; i < tokens.length; i++) if (tokens[i].codePointCount(0, tokens[i].length()) == 1) scores[i] = 0f;
        for (int r = merges.size() - 1; r >= 0; r--) {
            Integer id = ids.get(merges.get(r).replaceFirst(" ", ""));
            if (id != null) scores[id] = -r;
        }
    }

    private static int specialId(JsonNode config, String key, List<String> tokens, String src) throws ModelFormatException {
        if (config == null || !config.hasNonNull(key)) return -1;
        JsonNode v = config.get(key);
        String content = v.isTextual() ? v.textValue() : v.path("content").asText(null);
        if (content == null) return -1;
        int id = tokens.indexOf(content);
        if (id < 0) throw new ModelFormatException(src + ": tokenizer_config.json " + key + " '" + content + "' is not a token");
        return id;
    }

    private static int templateBos(JsonNode pp, List<String> tokens) {
        if (pp == null || pp.isNull()) return -1;
        if ("Sequence".equals(pp.path("type").asText())) {
            for (JsonNode c : pp.path("processors")) {
                int b = templateBos(c, tokens);
                if (b >= 0) return b;
            }
            return -1;
        }
        if (!"TemplateProcessing".equals(pp.path("type").asText())) return -1;
        JsonNode first = pp.path("single").path(0).path("SpecialToken").path("id");
        return first.isTextual() ? tokens.indexOf(first.textValue()) : -1;
    }

    private static int firstId(JsonNode v) {
        if (v != null && v.isArray() && !v.isEmpty()) v = v.get(0);
        return v != null && v.isIntegralNumber() && v.canConvertToInt() ? v.intValue() : -1;
    }
}
