package io.shardwise.core.tokenizer;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.Vocabulary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** tokenizer.json files Shardwise cannot honour are refused, naming the file and the field. */
class HfTokenizerJsonBadInputTest {
    @TempDir
    Path tmp;

    private void refused(Vocabulary v, Consumer<ObjectNode> edit, String... fragments) throws Exception {
        ObjectNode root = HfTokenizerJsonWriter.tokenizerJson(v);
        edit.accept(root);
        Path dir = Files.createDirectories(tmp.resolve("t" + System.nanoTime()));
        Files.writeString(dir.resolve("tokenizer.json"), root.toString());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> HfTokenizerJson.read(dir, 0));
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json").toString()), e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
    }

    @Test
    void unsupportedOrBrokenTokenizersAreNamed() throws Exception {
        Vocabulary bl = TinyBpeTrainer.byteLevel(PreTokenizer.LLAMA3, 40, true);
        Vocabulary sp = TinyBpeTrainer.sentencePiece("sp-prepend", 40);
        refused(bl, r -> ((ObjectNode) r.get("model")).put("type", "Unigram"), "model.type 'Unigram' is not supported");
        refused(bl, r -> ((ObjectNode) r.get("pre_tokenizer").get("pretokenizers").get(0).get("pattern")).put("Regex", "\\\\w+"), "pre_tokenizer Split pattern", "not supported");
        refused(bl, r -> ((ArrayNode) r.get("model").get("merges")).insertArray(0).add("zz").add("qq"), "merge #0", "not in the vocabulary");
        refused(bl, r -> ((ObjectNode) r.get("model").get("vocab")).put("duplicate", 5), "gives id 5 to both");
        refused(bl, r -> ((ObjectNode) r.get("model").get("vocab")).put("huge", 1L << 40), "token id 1099511627776");
        refused(bl, r -> r.putObject("normalizer").put("type", "Lowercase"), "normalizer Lowercase is not supported");
        refused(sp, r -> r.putObject("pre_tokenizer").put("type", "Whitespace"), "pre_tokenizer type 'Whitespace' is not supported");
        refused(sp, r -> r.putNull("normalizer"), "without Metaspace or a Replace");
        Path dir = Files.createDirectories(tmp.resolve("bad-json"));
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": ");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> HfTokenizerJson.read(dir, 0));
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json") + ": not valid JSON"), e.getMessage());
    }
}
