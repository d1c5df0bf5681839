package io.shardwise.core.format;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GGUF-embedded byte-level ("gpt2") tokenizer both ways, and its bad input. */
class GgufTokenizerTest {
    @TempDir
    Path tmp;

    @Test
    void gpt2VocabularyRoundTripsAndEncodesTheSame() throws Exception {
        LlamaModel src = HfRoundTripTest.qwen2Like(1, RopeScaling.NONE, false);
        Path p = tmp.resolve("q.gguf");
        GgufLlama.write(src, p, GgufLlama.WriteOptions.keepTypes("q"));
        try (Arena arena = Arena.ofConfined()) {
            Vocabulary v = GgufLlama.read(p, arena).vocabulary();
            assertEquals(Vocabulary.Kind.BYTE_LEVEL_BPE, v.kind());
            assertEquals("qwen2", v.preTokenizer());
            assertArrayEquals(src.vocabulary().tokenTypes(), v.tokenTypes());
            TextTokenizer a = Tokenizers.forVocabulary(src.vocabulary()), b = Tokenizers.forVocabulary(v);
            String text = "Once upon a time, café 日本 😀 <|eot_id|> 12345";
            assertArrayEquals(a.encode(text), b.encode(text));
            assertEquals(text, b.decode(-1, b.encode(text)));
        }
    }

    private void refused(GgufWriter w, String... fragments) throws Exception {
        Path p = tmp.resolve("bad.gguf");
        w.write(p);
        try (Arena arena = Arena.ofConfined()) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufLlama.read(p, arena));
            assertTrue(e.getMessage().startsWith(p + ": GGUF"), e.getMessage());
            for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
        }
    }

    @Test
    void badGpt2TokenizerMetadataIsNamed() throws Exception {
        LlamaModel src = HfRoundTripTest.qwen2Like(1, RopeScaling.NONE, false);
        GgufWriter w = GgufLlama.writer(src, GgufLlama.WriteOptions.keepTypes("q"));
        w.put("tokenizer.ggml.pre", "deepseek-coder");
        refused(w, "tokenizer.ggml.pre 'deepseek-coder' is not supported");
        w = GgufLlama.writer(src, GgufLlama.WriteOptions.keepTypes("q"));
        List<String> merges = new ArrayList<>(src.vocabulary().merges());
        merges.set(3, "zz qq");
        w.put("tokenizer.ggml.merges", GgufValue.Array.ofStrings(merges));
        refused(w, "tokenizer.ggml.merges", "merge #3 'zz qq'", "not in the vocabulary");
        w = GgufLlama.writer(src, GgufLlama.WriteOptions.keepTypes("q"));
        int[] types = src.vocabulary().tokenTypes().clone();
        types[7] = 99;
        w.put("tokenizer.ggml.token_type", GgufValue.Array.ofInts(types));
        refused(w, "tokenizer.ggml.token_type[7] = 99");
        w = GgufLlama.writer(src, GgufLlama.WriteOptions.keepTypes("q"));
        w.put("tokenizer.ggml.model", "bert");
        refused(w, "tokenizer.ggml.model 'bert' is not supported");
        w = GgufLlama.writer(src, GgufLlama.WriteOptions.keepTypes("q"));
        w.put("qwen2.rope.scaling.type", "yarn");
        refused(w, "rope.scaling.type 'yarn' is not supported");
    }

    /** Seeded mutations of a qwen2 GGUF (biases, gpt2 tokenizer with merges): read or ModelFormatException, nothing else. */
    @Test
    @org.junit.jupiter.api.Timeout(value = 60, unit = java.util.concurrent.TimeUnit.SECONDS) // a hang guard, not a timing assertion
    void mutatedQwen2FilesFailCleanly() throws Exception {
        Path p = tmp.resolve("fuzz.gguf");
        GgufLlama.write(HfRoundTripTest.qwen2Like(4, RopeScaling.NONE, false), p, GgufLlama.WriteOptions.keepTypes("f"));
        byte[] valid = java.nio.file.Files.readAllBytes(p);
        int headerEnd = (int) GgufFile.parse(java.lang.foreign.MemorySegment.ofArray(valid), "valid").dataOffset();
        java.util.Random r = new java.util.Random(77);
        int refused = 0;
        for (int round = 0; round < 300; round++) {
            byte[] b = valid.clone();
            for (int e = 0, n = 1 + r.nextInt(6); e < n; e++) {
                int at = r.nextInt(headerEnd);
                b[at] = switch (r.nextInt(3)) {
                    case 0 -> (byte) r.nextInt(256);
                    case 1 -> (byte) (b[at] ^ (1 << r.nextInt(8)));
                    default -> (byte) (' ' + r.nextInt(95)); // printable: corrupts token text and merges without breaking lengths
                };
            }
            try {
                GgufLlama.read(GgufFile.parse(java.lang.foreign.MemorySegment.ofArray(b), "fuzz#" + round));
            } catch (ModelFormatException e) {
                assertTrue(e.getMessage().startsWith("fuzz#" + round + ": "), e.getMessage());
                refused++;
            } catch (Throwable t) {
                org.junit.jupiter.api.Assertions.fail("round " + round + ": " + t, t);
            }
        }
        System.out.println("qwen2 GGUF fuzz: " + refused + " of 300 refused with ModelFormatException, the rest read");
        assertTrue(refused > 50, "refused " + refused);
    }
}
