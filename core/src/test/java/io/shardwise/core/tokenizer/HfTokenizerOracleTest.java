package io.shardwise.core.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.shardwise.core.model.Vocabulary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our tokenizer.json encoders against HF tokenizers itself (the Rust library through DJL's JNI jar, offline): the same
 * ids for many strings, for byte-level BPE with each pre-tokenizer and SentencePiece-style BPE with each prefix mode.
 */
class HfTokenizerOracleTest {
    @TempDir
    Path tmp;

    static List<String> samples() {
        List<String> s = new ArrayList<>(List.of(
                "Hello, world!", "Once upon a time, there was a little girl named Lily.", "  leading spaces", "trailing   ",
                "tabs\tand\nnewlines\n\n\r\n end", "numbers 1234567 3.14159 1,000 and 42nd", "don't I'm you'll we've she'd it's THEY'RE Tom's",
                "unicode: café naïve Ωmega 日本語のテキスト 한국어 Привет", "emoji 😀👍🏽 👨‍👩‍👧 done", "special <|eot_id|> in <|begin_of_text|>text<tool>x",
                "<s>hi</s> <unk>", "\u00a0nbsp\u3000ideographic\u2028sep", " ", "a", "  ", "\n", "x  \n  y", "if (x == 42) { return y + 7; }",
                "ÿ\u0000\u0001 control", "straße STRASSE", "a\u0301 combining", "1234567890123", "...!!!???", "'s 'S 'll", "日"));
        Random r = new Random(4);
        String alphabet = "ab c,.'\n\t0123456789éΩ日😀 \u00a0-<>|_ls";
        int[] cps = alphabet.codePoints().toArray();
        for (int i = 0; i < 60; i++) {
            StringBuilder b = new StringBuilder();
            int len = r.nextInt(30);
            for (int k = 0; k < len; k++) b.appendCodePoint(cps[r.nextInt(cps.length)]);
            if (r.nextInt(5) == 0) b.insert(r.nextInt(b.length() + 1), r.nextBoolean() ? "<|eot_id|>" : "</s>");
            s.add(b.toString());
        }
        s.add(TinyBpeTrainer.CORPUS);
        return s;
    }

    private void compare(Vocabulary v, String name) throws Exception {
        Path dir = tmp.resolve(name);
        HfTokenizerJsonWriter.write(v, dir, 512);
        Vocabulary read = HfTokenizerJson.read(dir, 0);
        assertEquals(v.kind(), read.kind());
        assertEquals(v.preTokenizer(), read.preTokenizer());
        assertEquals(v.tokens(), read.tokens());
        assertArrayEquals(Tokenizers.tokenTypes(v), read.tokenTypes());
        assertEquals(v.bos(), read.bos());
        assertEquals(v.eos(), read.eos());
        TextTokenizer ours = Tokenizers.forVocabulary(read);
        int tokens = 0;
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"), Map.of())) {
            for (String s : samples()) {
                long[] want = hf.encode(s, false, false).getIds();
                int[] got = ours.encode(s);
                assertArrayEquals(want, Arrays.stream(got).asLongStream().toArray(), name + ": ids of \"" + s + "\"");
                tokens += got.length;
                if (!s.contains("<") && !s.contains("日") && !s.contains("\u0000")) {
                    assertEquals(hf.decode(want, false), ours.decode(-1, got), name + ": decode of \"" + s + "\"");
                }
            }
        }
        System.out.println(name + ": " + samples().size() + " strings, " + tokens + " tokens equal to HF tokenizers'");
    }

    @Test
    void byteLevelBpeMatchesHfTokenizersForEachPreTokenizer() throws Exception {
        for (PreTokenizer p : PreTokenizer.values()) compare(TinyBpeTrainer.byteLevel(p, 300, p == PreTokenizer.LLAMA3), "bytelevel-" + p.ggufName);
    }

    @Test
    void sentencePieceBpeMatchesHfTokenizersForEachPrefixMode() throws Exception {
        for (SentencePieceBpeTokenizer.Prefix p : SentencePieceBpeTokenizer.Prefix.values()) compare(TinyBpeTrainer.sentencePiece(p.preTokenizerName, 300), "sp-" + p.preTokenizerName);
    }

    @Test
    void ggufGpt2StylePreNamesAndRegexesAgree() {
        for (PreTokenizer p : PreTokenizer.values()) {
            assertEquals(p, PreTokenizer.byGgufName(p.ggufName));
            assertEquals(p, PreTokenizer.byRegex(p.regex));
        }
        assertEquals(List.of("Hello", ",", " world", "!!", " ", "123", "45"), PreTokenizer.LLAMA3.split("Hello, world!! 12345"));
        assertTrue(PreTokenizer.GPT2.split("I'm").contains("'m"));
    }
}
