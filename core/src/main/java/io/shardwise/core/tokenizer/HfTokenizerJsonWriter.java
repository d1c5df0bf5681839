package io.shardwise.core.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.shardwise.core.model.Vocabulary;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a {@link Vocabulary} as HF {@code tokenizer.json}, {@code tokenizer_config.json} and
 * {@code generation_config.json} that transformers and HF tokenizers load and encode with as Shardwise does. A
 * llama2.c vocabulary (scores, no merges) gets merges derived from its scores as transformers' SentencePiece
 * converter derives them (SentencePieceExtractor: every split of a piece into two tokens, ordered by the piece's score).
 */
public final class HfTokenizerJsonWriter {
    private HfTokenizerJsonWriter() {
    }

    public static void write(Vocabulary v, Path dir, int modelMaxLength) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(HfTokenizerJson.TOKENIZER), pretty(tokenizerJson(v)));
        ObjectNode tc = HfTokenizerJson.JSON.createObjectNode();
        tc.put("tokenizer_class", "PreTrainedTokenizerFast");
        tc.put("bos_token", Tokenizers.text(v, v.bos()));
        tc.put("eos_token", Tokenizers.text(v, v.eos()));
        int unk = unk(v);
        if (unk >= 0) tc.put("unk_token", Tokenizers.text(v, unk));
        tc.put("add_bos_token", v.addBos());
        tc.put("add_eos_token", false);
        tc.put("model_max_length", modelMaxLength);
        tc.put("clean_up_tokenization_spaces", false);
        Files.writeString(dir.resolve(HfTokenizerJson.TOKENIZER_CONFIG), pretty(tc));
        ObjectNode gc = HfTokenizerJson.JSON.createObjectNode();
        gc.put("bos_token_id", v.bos());
        gc.put("eos_token_id", v.eos());
        Files.writeString(dir.resolve(HfTokenizerJson.GENERATION_CONFIG), pretty(gc));
    }

    private static int unk(Vocabulary v) {
        int[] types = Tokenizers.tokenTypes(v);
        for (int i = 0; i < types.length; i++) if (types[i] == Vocabulary.TYPE_UNKNOWN) return i;
        return -1;
    }

    private static String pretty(ObjectNode o) {
        try {
            return HfTokenizerJson.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + "\n";
        } catch (JacksonException e) {
            throw new IllegalStateException(e);
        }
    }

    public static ObjectNode tokenizerJson(Vocabulary v) {
        boolean sp = v.kind() == Vocabulary.Kind.SENTENCEPIECE;
        int[] types = Tokenizers.tokenTypes(v);
        ObjectNode root = HfTokenizerJson.JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < v.size(); i++) {
            if (types[i] == Vocabulary.TYPE_CONTROL || types[i] == Vocabulary.TYPE_USER_DEFINED || types[i] == Vocabulary.TYPE_UNKNOWN) {
                added.addObject().put("id", i).put("content", Tokenizers.text(v, i)).put("single_word", false).put("lstrip", false)
                        .put("rstrip", false).put("normalized", false).put("special", types[i] != Vocabulary.TYPE_USER_DEFINED);
            }
        }
        String prefix = v.preTokenizer().isEmpty() ? SentencePieceBpeTokenizer.Prefix.PREPEND.preTokenizerName : v.preTokenizer();
        if (sp) {
            if (prefix.equals(SentencePieceBpeTokenizer.Prefix.PREPEND.preTokenizerName)) {
                ArrayNode ns = root.putObject("normalizer").put("type", "Sequence").putArray("normalizers");
                ns.addObject().put("type", "Prepend").put("prepend", "\u2581");
                ns.addObject().put("type", "Replace").<ObjectNode>set("pattern", obj("String", " ")).put("content", "\u2581");
                root.putNull("pre_tokenizer");
            } else {
                root.putNull("normalizer");
                root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "\u2581")
                        .put("prepend_scheme", prefix.substring("metaspace-".length())).put("split", false);
            }
        } else {
            PreTokenizer pre = PreTokenizer.byGgufName(v.preTokenizer());
            if (pre == PreTokenizer.QWEN2) root.putObject("normalizer").put("type", "NFC");
            else root.putNull("normalizer");
            ArrayNode ps = root.putObject("pre_tokenizer").put("type", "Sequence").putArray("pretokenizers");
            ps.addObject().put("type", "Split").<ObjectNode>set("pattern", obj("Regex", pre.regex)).put("behavior", "Isolated").put("invert", false);
            ps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", false);
        }
        if (v.addBos()) {
            ObjectNode pp = root.putObject("post_processor").put("type", "TemplateProcessing");
            String bos = Tokenizers.text(v, v.bos());
            ArrayNode single = pp.putArray("single");
            single.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 0);
            single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            ArrayNode pair = pp.putArray("pair");
            pair.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 0);
            pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            pair.addObject().putObject("SpecialToken").put("id", bos).put("type_id", 1);
            pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
            ObjectNode st = pp.putObject("special_tokens").putObject(bos);
            st.put("id", bos);
            st.putArray("ids").add(v.bos());
            st.putArray("tokens").add(bos);
        } else {
            root.putNull("post_processor");
        }
        if (sp) {
            ArrayNode ds = root.putObject("decoder").put("type", "Sequence").putArray("decoders");
            ds.addObject().put("type", "Replace").<ObjectNode>set("pattern", obj("String", "\u2581")).put("content", " ");
            ds.addObject().put("type", "ByteFallback");
            ds.addObject().put("type", "Fuse");
            if (!prefix.equals(SentencePieceBpeTokenizer.Prefix.NEVER.preTokenizerName)) ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        } else {
            root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        }
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        int unk = unk(v);
        if (sp && unk >= 0) model.put("unk_token", Tokenizers.text(v, unk));
        else model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", sp);
        model.put("byte_fallback", sp);
        model.put("ignore_merges", !sp && PreTokenizer.LLAMA3.ggufName.equals(v.preTokenizer()));
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < v.size(); i++) {
            String t = Tokenizers.text(v, i);
            vocab.put(sp && types[i] != Vocabulary.TYPE_CONTROL && types[i] != Vocabulary.TYPE_UNKNOWN ? t.replace(' ', '\u2581') : t, i);
        }
        ArrayNode merges = model.putArray("merges");
        List<String> m = !v.merges().isEmpty() ? v.merges() : sp ? mergesFromScores(v, types) : List.of();
        for (String s : m) {
            int at = s.indexOf(' ', 1);
            merges.addArray().add(s.substring(0, at)).add(s.substring(at + 1));
        }
        return root;
    }

    private static ObjectNode obj(String k, String val) {
        return HfTokenizerJson.JSON.createObjectNode().put(k, val);
    }

    private record Merge(String left, String right, float score, int leftId, int rightId) {
    }

    /** transformers' SentencePieceExtractor.extract over a score vocabulary, in the '▁' spelling. */
    static List<String> mergesFromScores(Vocabulary v, int[] types) {
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < v.size(); i++) if (types[i] == Vocabulary.TYPE_NORMAL) ids.putIfAbsent(v.tokens().get(i), i);
        List<Merge> all = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            if (types[i] != Vocabulary.TYPE_NORMAL) continue;
            String piece = v.tokens().get(i);
            List<Merge> local = new ArrayList<>();
            for (int at = piece.offsetByCodePoints(0, 1); at < piece.length(); at = piece.offsetByCodePoints(at, 1)) {
                Integer l = ids.get(piece.substring(0, at)), r = ids.get(piece.substring(at));
                if (l != null && r != null) local.add(new Merge(piece.substring(0, at), piece.substring(at), v.scores()[i], l, r));
            }
            local.sort((a, b) -> a.leftId != b.leftId ? Integer.compare(a.leftId, b.leftId) : Integer.compare(a.rightId, b.rightId));
            all.addAll(local);
        }
        all.sort((a, b) -> Float.compare(b.score, a.score)); // stable: ties keep piece order
        List<String> out = new ArrayList<>(all.size());
        for (Merge mg : all) out.add(mg.left.replace(' ', '\u2581') + " " + mg.right.replace(' ', '\u2581'));
        return out;
    }
}
