package io.shardwise.core.format;

import io.shardwise.core.format.hf.HfConfig;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.core.format.hf.SafetensorsFile;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** llama2.c -> GGUF -> HF safetensors directory -> GGUF -> llama2.c: identical tensors, config and logits at every step. */
class HfRoundTripTest {
    @TempDir
    Path tmp;

    static void assertSameTensors(LlamaModel a, LlamaModel b, String step) {
        assertEquals(a.tensors().keySet(), b.tensors().keySet(), step);
        for (Tensor t : a.tensors().values()) {
            Tensor u = b.tensor(t.name());
            assertEquals(t.type(), u.type(), step + " " + t.name());
            assertArrayEquals(t.shape(), u.shape(), step + " " + t.name());
            assertEquals(-1, t.data().mismatch(u.data()), step + ": " + t.name() + " bytes differ");
        }
    }

    /**
     * Logits of a few positions with the scalar kernels, whose sums have one fixed order (the vector path's lane
     * reductions may change order once C2 compiles them, so its bits move with JIT warm-up); equal arrays mean the
     * same forward pass.
     */
    static float[] logits(LlamaModel m, int... tokens) {
        LlamaRuntime.Session s = new LlamaRuntime(new io.shardwise.core.runtime.LlamaWeights(m), io.shardwise.core.runtime.ScalarKernels.INSTANCE).newSession(16);
        float[] out = new float[tokens.length * m.config().vocabSize()];
        for (int i = 0; i < tokens.length; i++) {
            LlamaRuntime.Logits l = s.forward(tokens[i]);
            for (int v = 0; v < m.config().vocabSize(); v++) out[i * m.config().vocabSize() + v] = l.get(0, v);
        }
        return out;
    }

    private void roundTrip(LlamaModel src, String name, List<String> texts, int... probe) throws Exception {
        float[] want = logits(src, probe);
        try (Arena arena = Arena.ofConfined()) {
            Path gguf = tmp.resolve(name + ".gguf");
            ModelFiles.write(src, gguf, GgufLlama.WriteOptions.keepTypes(name));
            LlamaModel g = ModelFiles.open(gguf, arena);
            assertSameTensors(src, g, "llama2.c -> GGUF");
            Path hf = tmp.resolve(name + "-hf");
            ModelFiles.writeSafetensors(g, hf, HfLlama.WriteOptions.DEFAULT);
            assertEquals(ModelFiles.Format.HF_DIRECTORY, ModelFiles.detect(hf));
            for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "model.safetensors")) {
                assertTrue(Files.isRegularFile(hf.resolve(f)), f);
            }
            // the HF file holds q/k in the HF (rotate-halves) row order, not GGUF's
            SafetensorsFile st = SafetensorsFile.read(hf.resolve("model.safetensors"), arena);
            Tensor hq = st.tensors().get("model.layers.0.self_attn.q_proj.weight");
            assertNotEquals(-1, hq.data().mismatch(src.tensor(TensorNames.attnQ(0)).data()), "q_proj must be permuted");
            assertEquals(-1, st.tensors().get("model.layers.0.self_attn.v_proj.weight").data().mismatch(src.tensor(TensorNames.attnV(0)).data()));
            LlamaModel h = ModelFiles.open(hf, arena);
            assertEquals(src.config(), h.config());
            assertSameTensors(src, h, "GGUF -> HF");
            assertArrayEquals(want, logits(h, probe), "HF model logits");
            // a lone .safetensors with config.json beside it opens too
            assertSameTensors(src, ModelFiles.open(hf.resolve("model.safetensors"), arena), "HF .safetensors file");
            Path gguf2 = tmp.resolve(name + "-2.gguf");
            ModelFiles.write(h, gguf2, GgufLlama.WriteOptions.keepTypes(name));
            LlamaModel g2 = ModelFiles.open(gguf2, arena);
            assertSameTensors(src, g2, "HF -> GGUF");
            assertEquals(src.config(), g2.config());
            Path bin = tmp.resolve(name + "-back").resolve("model.bin");
            Files.createDirectories(bin.getParent());
            ModelFiles.writeLlama2c(g2, bin);
            LlamaModel back = ModelFiles.open(bin, arena);
            assertSameTensors(src, back, "GGUF -> llama2.c");
            assertArrayEquals(want, logits(back, probe), "llama2.c again");
            List<String> a = src.vocabulary().tokens(), b = back.vocabulary().tokens();
            for (int i = 0; i < a.size(); i++) assertEquals(Tokenizers.text(src.vocabulary(), i), b.get(i), "token " + i);
            // tokenizer.json has merges, not scores: the scores come back as -rank, which must encode the same
            TextTokenizer t0 = Tokenizers.forVocabulary(src.vocabulary()), t1 = Tokenizers.forVocabulary(back.vocabulary()),
                    th = Tokenizers.forVocabulary(h.vocabulary());
            for (String text : texts) {
                assertArrayEquals(t0.encode(text), t1.encode(text), "llama2.c vocabulary after the round trip, \"" + text + "\"");
                assertArrayEquals(t0.encode(text), th.encode(text), "HF tokenizer.json encoder, \"" + text + "\"");
            }
        }
    }

    static final List<String> TOKENIZER_SAMPLES = List.of("Once upon a time, there was a little girl named Lily.",
            "She loved to play outside in the park. One day, she saw a big, red ball.", "the world!", "hello  a b", "é\n\nxyz 123",
            "Tom's dog didn't run; \"Wow!\" said Mom.");

    /** Text the tiny vocabulary can spell without byte tokens it lacks. */
    static final List<String> TINY_SAMPLES = List.of("é!", "! é", "!!", "é");

    @Test
    void tinyModelRoundTripsThroughEveryFormatWithIdenticalLogits() throws Exception {
        roundTrip(TestModels.tiny(11, false), "tiny", TINY_SAMPLES, 1, 7, 8, 10, 3);
        roundTrip(TestModels.tiny(12, true), "tiny-tied", TINY_SAMPLES, 1, 9, 15);
    }

    @Test
    void stories260KRoundTripsThroughEveryFormatWithIdenticalLogits() throws Exception {
        Path dir = TestModels.stories260K();
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel src = ModelFiles.open(dir.resolve("stories260K.bin"), arena);
            roundTrip(src, "stories260K", TOKENIZER_SAMPLES, 1, 403, 407, 261, 378, 11);
        }
    }

    @Test
    void permutationIsLlamaCppsAndUndoesItself() throws Exception {
        LlamaModel src = TestModels.tiny(3, false);
        Path hf = tmp.resolve("perm");
        HfLlama.write(src, hf, HfLlama.WriteOptions.DEFAULT);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile st = SafetensorsFile.read(hf.resolve("model.safetensors"), arena);
            float[] g = src.tensor(TensorNames.attnK(1)).toFloats(); // GGUF rows: head h, row 2i+j
            float[] h = st.tensors().get("model.layers.1.self_attn.k_proj.weight").toFloats(); // HF rows: head h, row j*hs/2+i
            int dim = 32, hs = 8, heads = 2;
            for (int head = 0; head < heads; head++) {
                for (int i = 0; i < hs / 2; i++) {
                    for (int j = 0; j < 2; j++) {
                        int gr = head * hs + 2 * i + j, hr = head * hs + j * hs / 2 + i;
                        for (int col = 0; col < dim; col++) assertEquals(g[gr * dim + col], h[hr * dim + col]);
                    }
                }
            }
        }
    }

    static LlamaModel qwen2Like(long seed, RopeScaling scaling, boolean tied) {
        LlamaConfig c = new LlamaConfig(32, 48, 2, 4, 2, 300, 64, 1000000f, 1e-6f, tied, "qwen2", true, scaling, true);
        Vocabulary v = io.shardwise.core.tokenizer.TestVocabularies.byteLevel(300);
        Random r = new Random(seed);
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : GgufLlama.expectedShapes(c).entrySet()) {
            long[] shape = e.getValue();
            float[] values = new float[(int) io.shardwise.core.tensor.TensorType.elements(shape)];
            for (int i = 0; i < values.length; i++) values[i] = e.getKey().endsWith("norm.weight") ? 1f + 0.1f * (float) r.nextGaussian() : 0.05f * (float) r.nextGaussian();
            m.put(e.getKey(), Tensor.ofFloats(e.getKey(), shape, values));
        }
        return new LlamaModel(c, v, m);
    }

    @Test
    void qwen2WithBiasesByteLevelVocabularyAndBf16RoundTrips() throws Exception {
        LlamaModel src = qwen2Like(5, RopeScaling.NONE, true);
        try (Arena arena = Arena.ofConfined()) {
            Path gguf = tmp.resolve("q.gguf");
            ModelFiles.write(src, gguf, GgufLlama.WriteOptions.keepTypes("q"));
            GgufFile f = GgufFile.read(gguf, arena);
            assertEquals("qwen2", f.string("general.architecture"));
            assertEquals("gpt2", f.string("tokenizer.ggml.model"));
            assertEquals("qwen2", f.string("tokenizer.ggml.pre"));
            assertTrue(f.tensors().containsKey("blk.1.attn_k.bias"));
            LlamaModel g = GgufLlama.read(f);
            assertEquals(src.config(), g.config());
            assertSameTensors(src, g, "qwen2 GGUF");
            assertEquals(src.vocabulary().merges(), g.vocabulary().merges());
            assertEquals(src.vocabulary().tokens(), g.vocabulary().tokens());
            Path hf = tmp.resolve("q-hf");
            HfLlama.write(g, hf, HfLlama.WriteOptions.DEFAULT);
            String cfg = Files.readString(hf.resolve("config.json"));
            assertTrue(cfg.contains("Qwen2ForCausalLM") && cfg.contains("\"tie_word_embeddings\" : true"), cfg);
            LlamaModel h = HfLlama.read(hf, arena);
            assertEquals(src.config(), h.config());
            assertSameTensors(src, h, "qwen2 HF");
            assertArrayEquals(logits(src, 3, 100, 250), logits(h, 3, 100, 250));
            TextTokenizer a = Tokenizers.forVocabulary(src.vocabulary()), b = Tokenizers.forVocabulary(h.vocabulary());
            assertArrayEquals(a.encode("Hello world, 123 times!"), b.encode("Hello world, 123 times!"));
            // BF16 safetensors: every tensor BF16, values the BF16 rounding of the source
            Path bf = tmp.resolve("q-bf16");
            HfLlama.write(g, bf, new HfLlama.WriteOptions(GgmlType.BF16, 0));
            assertTrue(Files.readString(bf.resolve("config.json")).contains("bfloat16"));
            LlamaModel hb = HfLlama.read(bf, arena);
            for (Tensor t : hb.tensors().values()) assertEquals(GgmlType.BF16, t.type(), t.name());
            float[] x = src.tensor(TensorNames.ffnUp(0)).toFloats(), y = hb.tensor(TensorNames.ffnUp(0)).toFloats();
            for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], Math.abs(x[i]) / 128 + 1e-30f);
        }
    }

    @Test
    void llamaWithAttentionBiasPermutesBiasesLikeWeights() throws Exception {
        LlamaModel t = TestModels.tiny(8, false);
        LlamaConfig c0 = t.config();
        LlamaConfig c = new LlamaConfig(c0.dim(), c0.hiddenDim(), c0.nLayers(), c0.nHeads(), c0.nKvHeads(), c0.vocabSize(), c0.seqLen(),
                c0.ropeTheta(), c0.normEps(), false, "llama", false, RopeScaling.NONE, true);
        Random r = new Random(8);
        Map<String, Tensor> m = new LinkedHashMap<>(t.tensors());
        for (Map.Entry<String, long[]> e : GgufLlama.expectedShapes(c).entrySet()) {
            if (!e.getKey().endsWith(".bias")) continue;
            float[] b = new float[(int) e.getValue()[0]];
            for (int i = 0; i < b.length; i++) b[i] = 0.5f * (float) r.nextGaussian();
            m.put(e.getKey(), Tensor.ofFloats(e.getKey(), e.getValue(), b));
        }
        LlamaModel src = new LlamaModel(c, t.vocabulary(), m);
        try (Arena arena = Arena.ofConfined()) {
            Path gguf = tmp.resolve("bias.gguf");
            ModelFiles.write(src, gguf, GgufLlama.WriteOptions.keepTypes("bias"));
            LlamaModel g = ModelFiles.open(gguf, arena);
            assertEquals(c, g.config());
            Path hf = tmp.resolve("bias-hf");
            HfLlama.write(g, hf, HfLlama.WriteOptions.DEFAULT);
            assertTrue(Files.readString(hf.resolve("config.json")).contains("\"attention_bias\" : true"));
            SafetensorsFile st = SafetensorsFile.read(hf.resolve("model.safetensors"), arena);
            assertNotEquals(-1, st.tensors().get("model.layers.0.self_attn.q_proj.bias").data().mismatch(src.tensor("blk.0.attn_q.bias").data()), "q bias permuted");
            LlamaModel h = ModelFiles.open(hf, arena);
            assertSameTensors(src, h, "biases through HF");
            assertArrayEquals(logits(src, 1, 7, 8, 10), logits(h, 1, 7, 8, 10));
        }
    }

    @Test
    void shardedCheckpointWithIndexReadsBack() throws Exception {
        LlamaModel src = TestModels.tiny(21, false);
        Path hf = tmp.resolve("sharded");
        List<Path> files = HfLlama.write(src, hf, new HfLlama.WriteOptions(GgmlType.F32, 20_000));
        assertTrue(files.size() > 3, "several shards plus the index: " + files);
        assertTrue(Files.isRegularFile(hf.resolve("model.safetensors.index.json")));
        assertTrue(Files.isRegularFile(hf.resolve("model-00001-of-0000" + (files.size() - 1) + ".safetensors")));
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel h = ModelFiles.open(hf, arena);
            assertSameTensors(src, h, "sharded");
            assertSameTensors(src, ModelFiles.open(hf.resolve("model.safetensors.index.json"), arena), "sharded, opened by its index");
        }
    }

    @Test
    void llamaWithRopeScalingKeepsItThroughGgufAndHf() throws Exception {
        for (RopeScaling rs : List.of(RopeScaling.linear(4f), RopeScaling.llama3(8f, 1f, 4f, 8192))) {
            LlamaModel t = TestModels.tiny(2, false);
            LlamaConfig c0 = t.config();
            LlamaConfig c = new LlamaConfig(c0.dim(), c0.hiddenDim(), c0.nLayers(), c0.nHeads(), c0.nKvHeads(), c0.vocabSize(), c0.seqLen(),
                    500000f, c0.normEps(), false, "llama", false, rs, false);
            LlamaModel src = new LlamaModel(c, t.vocabulary(), t.tensors());
            try (Arena arena = Arena.ofConfined()) {
                Path gguf = tmp.resolve("rs.gguf");
                ModelFiles.write(src, gguf, GgufLlama.WriteOptions.keepTypes("rs"));
                GgufFile f = GgufFile.read(gguf, arena);
                assertEquals(rs.type() == RopeScaling.Type.LLAMA3, f.tensors().containsKey(GgufLlama.ROPE_FREQS));
                LlamaModel g = GgufLlama.read(f);
                assertEquals(c, g.config());
                Path hf = tmp.resolve("rs-hf-" + rs.type());
                HfLlama.write(g, hf, HfLlama.WriteOptions.DEFAULT);
                assertEquals(c, HfConfig.read(hf.resolve("config.json")).config());
                assertSameTensors(src, HfLlama.read(hf, arena), "rope scaling HF");
            }
        }
        // llama.cpp's files carry rope_freqs alone: the parameters are fitted back from it
        RopeScaling l3 = RopeScaling.llama3(8f, 1f, 4f, 8192);
        for (int headSize : new int[]{8, 64, 128}) {
            float[] rf = GgufLlama.ropeFactors(l3, headSize, 500000f);
            RopeScaling fit = GgufRopeScaling.fit(rf, headSize, 500000f);
            assertArrayEquals(rf, GgufLlama.ropeFactors(fit, headSize, 500000f), 1e-4f, "head size " + headSize);
        }
    }
}
