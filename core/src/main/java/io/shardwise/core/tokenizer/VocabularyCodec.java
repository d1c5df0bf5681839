package io.shardwise.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.shardwise.core.format.Llama2cTokenizerFile;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.Vocabulary;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link Vocabulary} as one blob with a kind, for model manifests: "llama2c" (llama2.c's tok*.bin) for a plain
 * SentencePiece vocabulary, so existing manifests keep their bytes, else "shardwise-vocab-v1", a JSON object holding
 * every field (kind, tokens, scores, merges, token types, pre-tokenizer, BOS/EOS, add_bos).
 */
public final class VocabularyCodec {
    public static final String LLAMA2C = "llama2c";
    public static final String JSON_V1 = "shardwise-vocab-v1";

    private VocabularyCodec() {
    }

    public static String kind(Vocabulary v) {
        boolean plain = v.kind() == Vocabulary.Kind.SENTENCEPIECE && v.merges().isEmpty() && v.preTokenizer().isEmpty() && v.addBos()
                && v.bos() == 1 && v.eos() == 2;
        return plain ? LLAMA2C : JSON_V1;
    }

    public static byte[] encode(Vocabulary v) {
        if (kind(v).equals(LLAMA2C)) return Llama2cTokenizerFile.write(v);
        ObjectNode o = HfTokenizerJson.JSON.createObjectNode();
        o.put("kind", v.kind().name());
        ArrayNode tokens = o.putArray("tokens");
        v.tokens().forEach(tokens::add);
        ArrayNode scores = o.putArray("scores");
        for (float s : v.scores()) scores.add(s);
        o.put("max_token_length", v.maxTokenLength());
        o.put("bos", v.bos());
        o.put("eos", v.eos());
        ArrayNode merges = o.putArray("merges");
        v.merges().forEach(merges::add);
        ArrayNode types = o.putArray("token_types");
        for (int t : v.tokenTypes()) types.add(t);
        o.put("pre", v.preTokenizer());
        o.put("add_bos", v.addBos());
        return o.toString().getBytes(StandardCharsets.UTF_8);
    }

    public static Vocabulary decode(byte[] bytes, String kind, int vocabSize, String source) throws ModelFormatException {
        if (kind == null || kind.isEmpty() || kind.equals(LLAMA2C)) return Llama2cTokenizerFile.read(bytes, vocabSize, source);
        if (!kind.equals(JSON_V1)) throw new ModelFormatException(source + ": tokenizer kind '" + kind + "' is unknown (" + LLAMA2C + ", " + JSON_V1 + ")");
        JsonNode o = HfTokenizerJson.tree(new String(bytes, StandardCharsets.UTF_8), source);
        try {
            Vocabulary.Kind k = Vocabulary.Kind.valueOf(o.path("kind").asText());
            List<String> tokens = strings(o.path("tokens"));
            if (tokens.size() != vocabSize) throw new ModelFormatException(source + ": " + tokens.size() + " tokens, the model has " + vocabSize);
            float[] scores = new float[tokens.size()];
            JsonNode s = o.path("scores");
            if (s.size() != scores.length) throw new ModelFormatException(source + ": " + s.size() + " scores for " + tokens.size() + " tokens");
            for (int i = 0; i < scores.length; i++) scores[i] = (float) s.get(i).asDouble();
            JsonNode t = o.path("token_types");
            int[] types = new int[t.size()];
            for (int i = 0; i < types.length; i++) types[i] = t.get(i).asInt();
            Vocabulary v = new Vocabulary(tokens, scores, o.path("max_token_length").asInt(), o.path("bos").asInt(), o.path("eos").asInt(), k,
                    strings(o.path("merges")), types, o.path("pre").asText(""), o.path("add_bos").asBoolean());
            Tokenizers.forVocabulary(v);
            return v;
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage());
        }
    }

    private static List<String> strings(JsonNode a) {
        List<String> out = new ArrayList<>(a.size());
        for (JsonNode n : a) out.add(n.asText());
        return out;
    }
}
