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

    /** DJL truncates to 512 tokens unless told not to. */
    static final Map<String, String> NO_TRUNCATION = Map.of("truncation", "false", "padding", "false");

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
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"), NO_TRUNCATION)) {
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

    /**
     * stories260K's llama2.c vocabulary (scores, no merges) written as tokenizer.json with merges derived from the scores:
     * HF tokenizers, our HF encoder and llama2.c's score-driven encoder give the same ids on real text.
     */
    @Test
    void llama2cVocabularyAsTokenizerJsonEncodesLikeLlama2cAndHf() throws Exception {
        Path shared = Path.of(System.getProperty("shardwise.shared", "../shared"), "data");
        Path tok = shared.resolve("stories260K/tok512.bin"), text = shared.resolve("text/tinystories/eval_sample.txt");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isRegularFile(tok) && java.nio.file.Files.isRegularFile(text),
                () -> "skipped: " + tok + " or " + text + " is absent");
        Vocabulary v = io.shardwise.core.format.Llama2cTokenizerFile.read(java.nio.file.Files.readAllBytes(tok), 512, tok.toString());
        Path dir = tmp.resolve("stories");
        HfTokenizerJsonWriter.write(v, dir, 512);
        Vocabulary hfv = HfTokenizerJson.read(dir, 512);
        TextTokenizer llama2c = Tokenizers.forVocabulary(v), ours = Tokenizers.forVocabulary(hfv);
        assertTrue(ours instanceof SentencePieceBpeTokenizer);
        List<String> lines = java.nio.file.Files.readAllLines(text).stream().filter(l -> !l.isBlank()).limit(120).toList();
        int tokens = 0;
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"), NO_TRUNCATION)) {
            for (String line : lines) {
                int[] want = llama2c.encode(line);
                assertArrayEquals(want, ours.encode(line), "ours vs llama2.c: " + line);
                assertArrayEquals(Arrays.stream(want).asLongStream().toArray(), hf.encode(line, false, false).getIds(), "HF vs llama2.c: " + line);
                tokens += want.length;
            }
        }
        System.out.println("stories260K tokenizer.json: " + lines.size() + " lines, " + tokens + " tokens equal in llama2.c, ours and HF tokenizers");
    }

    @Test
    void vocabularyCodecKeepsEveryField() throws Exception {
        for (Vocabulary v : List.of(TinyBpeTrainer.byteLevel(PreTokenizer.LLAMA3, 50, true), TinyBpeTrainer.sentencePiece("metaspace-first", 50))) {
            String kind = VocabularyCodec.kind(v);
            assertEquals(VocabularyCodec.JSON_V1, kind);
            Vocabulary back = VocabularyCodec.decode(VocabularyCodec.encode(v), kind, v.size(), "blob");
            assertEquals(v.tokens(), back.tokens());
            assertEquals(v.merges(), back.merges());
            assertArrayEquals(v.tokenTypes(), back.tokenTypes());
            assertArrayEquals(v.scores(), back.scores());
            assertEquals(List.of(v.kind(), v.preTokenizer(), v.bos(), v.eos(), v.addBos()), List.of(back.kind(), back.preTokenizer(), back.bos(), back.eos(), back.addBos()));
        }
        Vocabulary plain = new Vocabulary(List.of("<unk>", "<s>", "</s>", "a"), new float[4], 3, 1, 2);
        assertEquals(VocabularyCodec.LLAMA2C, VocabularyCodec.kind(plain));
        assertEquals(plain.tokens(), VocabularyCodec.decode(VocabularyCodec.encode(plain), VocabularyCodec.LLAMA2C, 4, "blob").tokens());
        io.shardwise.core.format.ModelFormatException e = org.junit.jupiter.api.Assertions.assertThrows(io.shardwise.core.format.ModelFormatException.class,
                () -> VocabularyCodec.decode("{\"kind\": \"BYTE_LEVEL_BPE\", \"tokens\": [\"a\"], \"scores\": [0]}".getBytes(), VocabularyCodec.JSON_V1, 2, "blob"));
        assertTrue(e.getMessage().startsWith("blob: 1 tokens, the model has 2"), e.getMessage());
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
