package io.shardwise.core.runtime;

import io.shardwise.core.model.Vocabulary;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class TokenizerTest {

    /** A toy vocabulary: specials, 256 byte tokens, then characters and merges with descending scores. */
    private static Tokenizer toy() {
        List<String> tokens = new java.util.ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) tokens.add(String.format("<0x%02X>", b));
        List<String> rest = List.of(" ", "a", "b", "c", "ab", " a", "bc", "abc", " ab", "é");
        float[] restScores = {0, 0, 0, 0, -1, -2, -1, -3, -5, 0};
        tokens.addAll(rest);
        float[] scores = new float[tokens.size()];
        for (int i = 0; i < rest.size(); i++) scores[259 + i] = restScores[i];
        return new Tokenizer(new Vocabulary(tokens, scores, 8, 1, 2));
    }

    /** The toy vocabulary padded past 1024 tokens, so merges are memoized in the map instead of the dense table. */
    private static Tokenizer toyLarge() {
        Vocabulary small = toy().vocabulary();
        List<String> tokens = new java.util.ArrayList<>(small.tokens());
        while (tokens.size() < 1100) tokens.add("<p" + tokens.size() + ">");
        float[] scores = java.util.Arrays.copyOf(small.scores(), tokens.size());
        for (int i = small.size(); i < scores.length; i++) scores[i] = -100;
        return new Tokenizer(new Vocabulary(tokens, scores, 8, 1, 2));
    }

    @Test
    void largeVocabulariesMergeTheSameWay() {
        for (String text : new String[]{" abc", "abcabc ab a bc", "zé€ abc"}) assertArrayEquals(toy().encode(text), toyLarge().encode(text), text);
    }

    private static int id(String s) {
        return 259 + List.of(" ", "a", "b", "c", "ab", " a", "bc", "abc", " ab", "é").indexOf(s);
    }

    @Test
    void mergesHighestScoreFirstAndLeftmostOnTies() {
        Tokenizer t = toy();
        // " abc": pairs " a"(-2) "ab"(-1) "bc"(-1): "ab" wins the tie (leftmost), then " ab"(-5) vs "abc"(-3) -> "abc"
        assertArrayEquals(new int[]{id(" "), id(" "), id("abc")}, t.encode(" abc"));
        assertArrayEquals(new int[]{id(" "), id("abc")}, t.encode("abc"));
        assertArrayEquals(new int[]{}, t.encode(""));
    }

    @Test
    void unknownCharactersFallBackToUtf8ByteTokens() {
        Tokenizer t = toy();
        // 'z' is not in the vocabulary -> byte 0x7A -> id 0x7A + 3; "é" is; "€" (E2 82 AC) is not
        assertArrayEquals(new int[]{id(" "), 0x7A + 3}, t.encode("z"));
        assertArrayEquals(new int[]{id(" "), id("é"), 0xE2 + 3, 0x82 + 3, 0xAC + 3}, t.encode("é€"));
        assertEquals("é€", t.decode(0, t.encode("é€")).substring(1));
    }

    @Test
    void decodeStripsTheSpaceAfterBosAndPrintsByteTokensAsBytes() {
        Tokenizer t = toy();
        assertEquals("a", t.decode(1, id(" a")));
        assertEquals(" a", t.decode(id("a"), id(" a")));
        assertArrayEquals(new byte[]{0x0A}, t.decodeBytes(5, 0x0A + 3));
    }

    @Test
    void matchesRunCEncodeOnTok512() throws IOException {
        Tokenizer t = new Tokenizer(SharedData.stories260K().vocabulary());
        // expected ids from a line-by-line transcription of run.c encode() (naive merge loop)
        assertArrayEquals(new int[]{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426},
                t.encode("Once upon a time, there was a little girl named Lily."));
        String mixed = "Hello world\n\nThe café — naïve 日本 “quoted” €5 😀 end";
        assertArrayEquals(new int[]{346, 306, 414, 263, 304, 341, 13, 13, 434, 260, 280, 412, 431, 485, 410, 481, 297, 412,
                198, 178, 360, 410, 233, 154, 168, 233, 159, 175, 410, 465, 456, 425, 309, 266, 466, 410, 503, 480, 410,
                243, 162, 155, 131, 344, 264}, t.encode(mixed));
        // decoding after BOS drops the dummy-prefix space: the round trip gives the text back
        assertEquals(mixed, t.decode(1, t.encode(mixed)));
    }

    @Test
    void encodesTheEvaluationFilesToTheReferenceTokenCounts() throws IOException {
        Tokenizer t = new Tokenizer(SharedData.stories260K().vocabulary());
        byte[] eval = Files.readAllBytes(SharedData.require("text/tinystories/eval_sample.txt"));
        assertEquals(15_536, t.encode(eval).length);
        byte[] wiki = Files.readAllBytes(SharedData.require("text/wikitext-2/wikitext2_test.txt"));
        long t0 = System.nanoTime();
        int[] ids = t.encode(wiki);
        System.out.printf("wikitext2_test: %d bytes -> %d tokens in %.0f ms%n", wiki.length, ids.length, (System.nanoTime() - t0) / 1e6);
        assertEquals(815_069, ids.length);
        assertEquals(new String(wiki, java.nio.charset.StandardCharsets.UTF_8), t.decode(1, ids));
    }
}
