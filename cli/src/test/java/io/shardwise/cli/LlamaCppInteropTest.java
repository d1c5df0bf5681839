package io.shardwise.cli;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.RopeScaling;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.runtime.Perplexity;
import io.shardwise.core.runtime.PerplexityResult;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * llama.cpp is the judge of the GGUF files Shardwise writes: for stories260K converted to the float and 32-block types,
 * under other config features (untied output, Llama 3 RoPE scaling, qwen2), and for the pruner's outputs (physically
 * smaller models, 2:4 sparse), llama.cpp (node-llama-cpp, {@link LlamaCpp}) loads the
 * file and scores the same token ids as our runtime does on the same file, with the pinned protocol's chunks; the two
 * perplexities must agree within what the two sets of kernels may differ by ({@link Tolerance}). Token ids come from
 * our tokenizer on the first {@value #WINDOW} tokens of eval_sample, so tokenizers do not enter. Here (cli tests)
 * because cli has the converter, the in-process chain that runs the pruner's stages without Kafka, and the runtime.
 */
class LlamaCppInteropTest {
    /** Two full chunks of 511 after BOS: the second runs on an emptied sequence, as the protocol's chunks do. */
    static final int WINDOW = 1022;
    static final String CALIB = "calibration: tinystories-train, calib_samples: 8, calib_seq_len: 128";

    /**
     * How close llama.cpp must come to us: its ppl relative to ours, each token's NLL (nats), and the mean NLL difference
     * in standard errors ({@link #standardErrors}); NaN: not checked.
     */
    enum Tolerance {
        /** The same float32 graph (llama.cpp with an F32 KV cache, no flash attention): only summation order differs; measured 4e-7, 3e-5. */
        FLOAT32(1e-4, 1e-3, Double.NaN),
        /** llama.cpp rounds the activations that meet F16 weights to F16, we multiply them in float; measured 5.5e-5, 8.5e-3. */
        FLOAT16(5e-4, 2e-2, Double.NaN),
        /**
         * Both multiply block-quantized weights with q8 activations (llama.cpp: q8_0, q8_1 for Q4_1/Q5_1), or llama.cpp
         * rounds the activations meeting BF16 weights to BF16; any float difference upstream (summation order, F16
         * activations at an F16 fallback tensor, ggml's AVX2 rounding x * 127/max half to even) can flip a quant, and on a
         * 64-wide model one flip moves a token's NLL by up to ~0.4: zero-mean per-token noise (sd ~0.04) whose mean over
         * 1022 tokens has a standard error of ~1.2e-3 (measured 0.01-0.16% in ppl, within 1.4 standard errors). A file
         * llama.cpp decodes differently (block layout, scale type, nibble order) shifts the mean far beyond 5 standard errors.
         */
        ACTIVATION_ROUNDING(1e-2, Double.NaN, 5);

        final double relPpl, perToken, zScore;

        Tolerance(double relPpl, double perToken, double zScore) {
            this.relPpl = relPpl;
            this.perToken = perToken;
            this.zScore = zScore;
        }
    }

    /** Writes one GGUF file from the source model (or its llama2.c file) into a folder of its own. */
    interface Producer {
        Path write(LlamaModel source, Path sourceFile, Path dir) throws Exception;
    }

    record Case(String name, Tolerance tolerance, Producer producer) {
        @Override
        public String toString() {
            return name;
        }
    }

    /**
     * The models llama.cpp judges. To add one (a new pruning or quantization stage), add a line: {@link #converted} for a
     * type the converter writes, {@link #variant} for a config feature, {@link #recipe} for stages run in process as the
     * services run them.
     */
    static Stream<Case> models() {
        return Stream.of(
                converted(GgmlType.F32, Tolerance.FLOAT32),
                converted(GgmlType.F16, Tolerance.FLOAT16),
                converted(GgmlType.Q8_0, Tolerance.ACTIVATION_ROUNDING), // ffn_down's 172 columns do not fit blocks: F16
                converted(GgmlType.Q4_0, Tolerance.ACTIVATION_ROUNDING),
                converted(GgmlType.Q4_1, Tolerance.ACTIVATION_ROUNDING),
                converted(GgmlType.Q5_0, Tolerance.ACTIVATION_ROUNDING),
                converted(GgmlType.Q5_1, Tolerance.ACTIVATION_ROUNDING),
                converted(GgmlType.IQ4_NL, Tolerance.ACTIVATION_ROUNDING),
                converted(GgmlType.BF16, Tolerance.ACTIVATION_ROUNDING),
                // stories260K's weights under other config features the writer carries: their ppl is poor, the comparison exact
                variant("untied output + Llama 3 RoPE (rope_freqs)", LlamaCppInteropTest::untiedWithLlama3Rope),
                variant("qwen2: NEOX RoPE, q/k/v biases", LlamaCppInteropTest::qwen2WithBiases),
                recipe("mlp_channels 25% F32 (ffn 129)", Tolerance.FLOAT32, "", "prune: { method: mlp_channels, ratio: 0.25, " + CALIB + " }"),
                recipe("mlp_channels 25% /32 + rtn Q8_0", Tolerance.ACTIVATION_ROUNDING, "",
                        "prune: { method: mlp_channels, ratio: 0.25, multiple_of: 32, " + CALIB + " }", "quantize: { method: rtn, type: Q8_0 }"),
                recipe("magnitude 2:4 F32", Tolerance.FLOAT32, "", "prune: { method: magnitude, pattern: \"2:4\" }"),
                recipe("magnitude 2:4 + Q4_0", Tolerance.ACTIVATION_ROUNDING, "Q4_0", "prune: { method: magnitude, pattern: \"2:4\" }"),
                // n_heads/n_kv_heads 8/4 -> 6/3 with head_dim 8 kept: the file carries attention.key_length/value_length
                recipe("attention_heads 25% F32", Tolerance.FLOAT32, "", "prune: { method: attention_heads, ratio: 0.25, " + CALIB + " }"),
                recipe("attention_heads 25% + rtn Q8_0", Tolerance.ACTIVATION_ROUNDING, "", // attn_output's 48 columns: F16
                        "prune: { method: attention_heads, ratio: 0.25, " + CALIB + " }", "quantize: { method: rtn, type: Q8_0 }"),
                // ShortGPT: n_layers 5 -> 4, the blocks above the removed one renumbered
                recipe("shortgpt 1 of 5 layers F32", Tolerance.FLOAT32, "", "prune: { method: shortgpt, layers: 1, " + CALIB + " }")
                // Not yet: low-rank outputs (svd, asvd, lorc: <w>.lora_a/.lora_b in the GGUF) are refused by llama.cpp
                // ("missing tensor 'blk.0.attn_q.weight'"; lorc: "wrong number of tensors"); add them when the GGUF
                // output folds the factors, e.g. recipe("svd budget 0.75 F32", Tolerance.FLOAT32, "", "prune: { method: svd, budget: 0.75 }")
        );
    }

    /** {@code shardwise convert --type t}: every matrix re-encoded to t (F16 where its rows do not fit t's blocks). */
    static Case converted(GgmlType t, Tolerance tol) {
        return new Case(t.name(), tol, (source, file, dir) -> {
            Path out = dir.resolve("stories260K-" + t.name() + ".gguf");
            GgufLlama.write(source, out, new GgufLlama.WriteOptions("stories260K-" + t.name(), t));
            return out;
        });
    }

    /** The source model changed by {@code f}, written in F32. */
    static Case variant(String name, UnaryOperator<LlamaModel> f) {
        return new Case(name, Tolerance.FLOAT32, (source, file, dir) -> {
            Path out = dir.resolve("variant.gguf");
            GgufLlama.write(f.apply(source), out, new GgufLlama.WriteOptions(name, GgmlType.F32));
            return out;
        });
    }

    /**
     * output.weight of its own (1.5 x the embedding, so a reader that used the tied one would score differently), theta
     * 500000 and Llama 3 scaling with original context 512, so stories260K's 4 RoPE pairs take each branch of it.
     */
    static LlamaModel untiedWithLlama3Rope(LlamaModel m) {
        LlamaConfig c = m.config();
        LlamaConfig v = new LlamaConfig(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen(),
                500000f, c.normEps(), false, LlamaConfig.LLAMA, false, RopeScaling.llama3(8f, 1f, 4f, 512), false);
        Tensor embd = m.tensor(TensorNames.TOKEN_EMBD);
        float[] out = embd.toFloats();
        for (int i = 0; i < out.length; i++) out[i] *= 1.5f;
        Map<String, Tensor> t = new LinkedHashMap<>(m.tensors());
        t.put(TensorNames.OUTPUT, Tensor.ofFloats(TensorNames.OUTPUT, embd.shape(), out));
        return new LlamaModel(v, m.vocabulary(), t);
    }

    /** Architecture qwen2 (NEOX RoPE) with seeded q/k/v biases. */
    static LlamaModel qwen2WithBiases(LlamaModel m) {
        LlamaConfig c = m.config();
        LlamaConfig v = new LlamaConfig(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen(),
                c.ropeTheta(), c.normEps(), true, "qwen2", true, RopeScaling.NONE, true);
        Random r = new Random(7);
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : GgufLlama.expectedShapes(v).entrySet()) {
            if (!e.getKey().endsWith(".bias")) {
                t.put(e.getKey(), m.tensor(e.getKey()));
                continue;
            }
            float[] b = new float[Math.toIntExact(e.getValue()[0])];
            for (int i = 0; i < b.length; i++) b[i] = (float) (0.1 * r.nextGaussian());
            t.put(e.getKey(), Tensor.ofFloats(e.getKey(), e.getValue(), b));
        }
        return new LlamaModel(v, m.vocabulary(), t);
    }

    /** The stages run by the in-process chain (the services' technique classes, the coordinator's manifests), then its GGUF output. */
    static Case recipe(String name, Tolerance tol, String outputType, String... stages) {
        String yaml = "stages:\n" + Arrays.stream(stages).map(s -> "  - " + s + "\n").collect(Collectors.joining())
                + "evaluate: { suites: [] }\noutput: { format: gguf" + (outputType.isEmpty() ? "" : ", type: " + outputType) + " }\n";
        return new Case(name, tol, (source, file, dir) -> {
            List<String> log = new ArrayList<>();
            InProcessChain.Result r = new InProcessChain(dir.resolve("blobs"), dir.resolve("out"), RepoLayout.find(), log::add).run(file, yaml);
            return Path.of(r.outputPath());
        });
    }

    private static LlamaCpp llama;
    @TempDir
    static Path work;
    private static Path sourceFile, tokenFile;
    private static int[] tokens;
    private static int bos;
    private static final List<String> ROWS = new ArrayList<>();

    @BeforeAll
    static void oracleAndTokens() throws Exception {
        sourceFile = SharedData.stories260K();
        Path eval = SharedData.require("text/tinystories/eval_sample.txt");
        llama = LlamaCpp.installedOrSkip();
        try (Arena arena = Arena.ofConfined()) {
            TextTokenizer t = Tokenizers.forVocabulary(ModelFiles.open(sourceFile, arena).vocabulary());
            tokens = Arrays.copyOf(t.encode(Files.readAllBytes(eval)), WINDOW);
            bos = t.bos();
        }
        tokenFile = work.resolve("eval_sample-" + WINDOW + ".ids");
        Files.writeString(tokenFile, IntStream.of(tokens).mapToObj(Integer::toString).collect(Collectors.joining("\n", "", "\n")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void llamaCppScoresOurFileAsWeDo(Case c) throws Exception {
        Path dir = Files.createDirectories(work.resolve(c.name().replaceAll("[^A-Za-z0-9]+", "_")));
        long t0 = System.nanoTime();
        Path gguf;
        try (Arena arena = Arena.ofShared()) { // shared: the runtime reads weights from its worker threads
            gguf = c.producer().write(ModelFiles.open(sourceFile, arena), sourceFile, dir);
        }
        PerplexityResult ours;
        double[] ourNll;
        LlamaConfig config;
        int ctx;
        try (Arena arena = Arena.ofShared()) {
            LlamaModel m = ModelFiles.open(gguf, arena);
            config = m.config();
            ctx = Perplexity.context(config);
            LlamaRuntime rt = new LlamaRuntime(m);
            ours = Perplexity.evaluateTokens(rt, bos, tokens, Perplexity.defaultThreads());
            ourNll = perToken(rt, ctx - 1);
        }
        long t1 = System.nanoTime();
        LlamaCpp.Score theirs = llama.score(tokenFile, ctx, bos, gguf);
        System.out.printf(Locale.ROOT, "%s: written and scored by us in %.1f s, by llama.cpp in %.1f s%n", c.name(), (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9);

        double[] d = new double[ourNll.length];
        for (int i = 0; i < d.length; i++) d[i] = theirs.perToken()[i] - ourNll[i];
        double rel = theirs.ppl() / ours.ppl() - 1, meanAbs = Arrays.stream(d).map(Math::abs).average().orElseThrow();
        double maxAbs = Arrays.stream(d).map(Math::abs).max().orElseThrow(), z = standardErrors(d);
        String row = String.format(Locale.ROOT, "| %-41s | %-23s | %9.5f | %9.5f | %+9.2e | %8.1e | %8.1e | %+5.2f |", c.name(),
                (config.arch().equals(LlamaConfig.LLAMA) ? "" : config.arch() + " ") + config.nLayers() + "L " + config.nHeads() + "/" + config.nKvHeads() + "h ffn " + config.hiddenDim(),
                ours.ppl(), theirs.ppl(), rel, meanAbs, maxAbs, z);
        ROWS.add(row);
        System.out.println(row);

        assertEquals(WINDOW, theirs.tokens(), "tokens llama.cpp scored");
        assertEquals(WINDOW, ours.tokens());
        Tolerance tol = c.tolerance();
        assertTrue(Math.abs(rel) <= tol.relPpl, c.name() + ": llama.cpp ppl " + theirs.ppl() + " vs ours " + ours.ppl()
                + " (relative " + rel + ", tolerance " + tol + " " + tol.relPpl + ")");
        if (!Double.isNaN(tol.perToken)) {
            assertTrue(maxAbs <= tol.perToken, c.name() + ": a token's NLL differs by " + maxAbs + " nats (tolerance " + tol + " " + tol.perToken + ")");
        }
        if (!Double.isNaN(tol.zScore)) {
            assertTrue(Math.abs(z) <= tol.zScore, c.name() + ": llama.cpp's mean NLL is " + z + " standard errors from ours (tolerance "
                    + tol + " " + tol.zScore + "): a bias, not kernel noise");
        }
    }

    /** The mean of {@code d} in standard errors, estimated from the means of consecutive batches of 32 (neighbouring tokens share a KV cache). */
    static double standardErrors(double[] d) {
        double mean = Arrays.stream(d).average().orElseThrow();
        if (mean == 0) return 0;
        int b = 32, n = d.length / b;
        double[] means = new double[n];
        for (int i = 0; i < n; i++) means[i] = Arrays.stream(d, i * b, (i + 1) * b).average().orElseThrow();
        double m = Arrays.stream(means).average().orElseThrow();
        double var = Arrays.stream(means).map(x -> (x - m) * (x - m)).sum() / (n - 1);
        return mean / Math.sqrt(var / n);
    }

    /** Our NLL of every token, chunk by chunk as {@link Perplexity#evaluateTokens} scores them. */
    private static double[] perToken(LlamaRuntime rt, int chunk) {
        double[] out = new double[tokens.length];
        LlamaRuntime.Session s = rt.newSession(chunk);
        for (int off = 0; off < tokens.length; off += chunk) {
            int len = Math.min(chunk, tokens.length - off);
            System.arraycopy(Perplexity.chunkNll(s, bos, tokens, off, len), 0, out, off, len);
        }
        return out;
    }

    @AfterAll
    static void table() throws Exception {
        if (llama != null) llama.close();
        if (ROWS.isEmpty()) return;
        System.out.println("llama.cpp interop: stories260K, first " + WINDOW + " tokens of eval_sample, llama.cpp = node-llama-cpp " + LlamaCpp.VERSION
                + " (CPU, F32 KV cache, no flash attention)");
        System.out.println("| model | shape | ours ppl | llama.cpp ppl | rel diff | mean abs dNLL | max abs dNLL | dNLL / s.e. |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        ROWS.forEach(System.out::println);
    }
}
