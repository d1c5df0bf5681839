package io.shardwise.quantizer;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.synth.SyntheticModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.train.SyntheticGrammar;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.Technique;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImatrixTest {

    @Test
    void importanceIsEachColumnsMeanSquareOverTheCalibrationTokensSharedByTheLinearsReadingTheSameInput() {
        ImportanceMatrix im = new ImportanceMatrix();
        Linear q = linear("blk.0.attn_q.weight", 3, 2), k = linear("blk.0.attn_k.weight", 3, 2), o = linear("blk.0.attn_output.weight", 3, 2);
        im.input(new Linear[]{q, k}, new float[]{9, 1, 2, -3, 0, 2}, 1, 1, 3); // one token at offset 1: (1, 2, -3)
        im.input(new Linear[]{q, k}, new float[]{3, 0, 0, 1, 1, 1}, 0, 2, 3); // two tokens
        im.input(new Linear[]{o}, new float[]{2, 2, 2}, 0, 1, 3);
        float[] expect = {(1 + 9 + 1) / 3f, (4 + 0 + 1) / 3f, (9 + 0 + 1) / 3f};
        assertArrayEquals(expect, im.of(q.name()), 1e-6f);
        assertArrayEquals(expect, im.of(k.name()), 1e-6f);
        assertArrayEquals(new float[]{4, 4, 4}, im.of(o.name()), 0f);
        assertNull(im.of("blk.0.attn_v.weight"));
        Tensor w = Tensor.ofFloats("w", new long[]{64, 2}, new float[128]);
        var e = assertThrows(IllegalArgumentException.class, () -> ImportanceMatrix.quantize(w, GgmlType.Q4_0, new float[32]));
        assertTrue(e.getMessage().contains("w: importance of 32 columns for rows of 64"), e.getMessage());
    }

    /** The importance-weighted squared error sum_rows sum_j imp_j (w - q)^2 that the importance-matrix search minimizes. */
    @Test
    void everyTypeLowersTheImportanceWeightedErrorWithTheMatrixThanWithout() {
        int cols = 512, rows = 32;
        SplittableRandom r = new SplittableRandom(5);
        float[] w = new float[cols * rows];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.02);
        float[] imp = new float[cols];
        for (int j = 0; j < cols; j++) imp[j] = (float) Math.exp(2 * r.nextGaussian()); // log-normal channel energies, as in LLMs
        Tensor t = Tensor.ofFloats("w", new long[]{cols, rows}, w);
        for (TensorType type : ImatrixTechnique.TYPES) {
            double plain = weightedError(w, TensorCodecs.dequantize(ImportanceMatrix.quantize(t, type, null)), imp);
            double weighted = weightedError(w, TensorCodecs.dequantize(ImportanceMatrix.quantize(t, type, imp)), imp);
            System.out.printf(Locale.ROOT, "imatrix %-6s weighted error %.4g -> %.4g (%.1f%%)%n", type, plain, weighted, 100 * (weighted / plain - 1));
            assertTrue(weighted < 0.9 * plain, type + ": weighted error with the matrix " + weighted + " vs without " + plain);
        }
    }

    @Test
    void imatrixLowersPerplexityAndKlOfIq4NlAndQ4_0OnStories260K(@TempDir Path tmp) throws Exception {
        LlamaModel fp32 = AwqEval.stories260K();
        AwqEval.Stored in = AwqEval.Stored.of(fp32, tmp.resolve("blobs"));
        ImatrixTechnique imatrix = new ImatrixTechnique(AwqEval.texts(tmp));
        for (GgmlType type : List.of(GgmlType.IQ4_NL, GgmlType.Q4_0)) {
            List<String> notes = new ArrayList<>();
            LlamaModel q = AwqEval.run(in, imatrix, calib("type", type.typeName(), "fallback", "F16"), notes);
            LlamaModel plain = AwqEval.run(in, imatrix, calib("type", type.typeName(), "fallback", "F16", "use_imatrix", "false"), new ArrayList<>());
            AwqEval.Score s = AwqEval.score(fp32, q, true), base = AwqEval.score(fp32, plain, false);
            String label = type + " (ffn_down F16)";
            AwqEval.print("imatrix off", label, base);
            AwqEval.print("imatrix", label, s);
            assertEquals(type, q.tensor(TensorNames.attnQ(0)).type());
            assertEquals(type, q.tensor(TensorNames.TOKEN_EMBD).type());
            assertEquals(GgmlType.F16, q.tensor(TensorNames.ffnDown(0)).type());
            assertEquals(GgmlType.F32, q.tensor(TensorNames.ffnNorm(0)).type());
            assertTrue(notes.contains(TensorNames.ffnDown(0) + ": row 172 % 32 != 0 -> fallback F16"), notes.toString());
            assertTrue(notes.stream().noneMatch(n -> n.contains("without importance")), "tied token_embd takes the head's importance: " + notes);
            assertTrue(s.pplEval() < base.pplEval(), type + ": imatrix ppl " + s.pplEval() + " vs without " + base.pplEval());
            assertTrue(s.kl() < base.kl(), type + ": imatrix KL " + s.kl() + " vs without " + base.kl());
            if (type == GgmlType.IQ4_NL) {
                // the same model with only the tied token_embd quantized plainly: what the head's importance buys it
                Tensor e = fp32.tensor(TensorNames.TOKEN_EMBD);
                LlamaModel untied = q.withTensors(Map.of(e.name(), ImportanceMatrix.quantize(e, type, null)));
                double[] kl = AwqEval.klTop1(fp32, untied, Files.readString(AwqEval.shared("text/tinystories/eval_sample.txt")), 4096, 256);
                System.out.printf(Locale.ROOT, "imatrix IQ4_NL stories260K, token_embd without the head's importance: KL %.5f top1 %.4f (with: KL %.5f top1 %.4f)%n",
                        kl[0], kl[1], s.kl(), s.top1());
                assertTrue(s.kl() < kl[0], "tied token_embd: KL with the head's importance " + s.kl() + " vs without " + kl[0]);
            }
        }
    }

    /** 16 windows of 128 TinyStories-train tokens: enough for 64- and 172-wide inputs, and quick. */
    static Map<String, String> calib(String... kv) {
        Map<String, String> m = AwqEval.calib(kv);
        m.put("calib_samples", "16");
        m.put("calib_seq_len", "128");
        return m;
    }

    @Test
    void kQuantsWithTheImatrixTrackTheFloatModelCloserOnHeldOutText(@TempDir Path tmp) throws Exception {
        LlamaModel fp32 = outlierModel(tmp);
        AwqEval.Stored in = AwqEval.Stored.of(fp32, tmp.resolve("blobs"));
        SyntheticGrammar grammar = new SyntheticGrammar();
        Path calib = Files.writeString(tmp.resolve("calib.txt"), grammar.corpus(11, 20_000).text());
        String heldOut = grammar.corpus(12, 4_000).text();
        Map<String, double[]> gram = inputGrams(fp32, heldOut, 1024, 128);
        ImatrixTechnique imatrix = new ImatrixTechnique(AwqEval.texts(tmp));
        for (GgmlType type : List.of(GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K)) {
            Map<String, String> p = new LinkedHashMap<>(Map.of("type", type.typeName(), "calibration", calib.toUri().toString(),
                    "calib_samples", "16", "calib_seq_len", "128"));
            LlamaModel q = AwqEval.run(in, imatrix, p, new ArrayList<>());
            p.put("use_imatrix", "false");
            LlamaModel plain = AwqEval.run(in, imatrix, p, new ArrayList<>());
            double eq = 0, ep = 0;
            for (Map.Entry<String, double[]> g : gram.entrySet()) {
                double a = outputError(fp32.tensor(g.getKey()), q.tensor(g.getKey()), g.getValue());
                double b = outputError(fp32.tensor(g.getKey()), plain.tensor(g.getKey()), g.getValue());
                eq += a;
                ep += b;
                if (g.getKey().endsWith("attn_q.weight") || g.getKey().endsWith("ffn_up.weight") || g.getKey().equals(TensorNames.OUTPUT)) {
                    assertTrue(a < b, type + " " + g.getKey() + ": held-out output error with the matrix " + a + " vs without " + b);
                }
            }
            assertEquals(type, q.tensor(TensorNames.ffnDown(1)).type());
            assertTrue(eq < ep, type + ": summed held-out output error with the matrix " + eq + " vs without " + ep);
            if (type != GgmlType.Q4_K) {
                System.out.printf(Locale.ROOT, "imatrix %s on a dim-256 model with outlier channels, held-out output error %.4g -> %.4g%n", type, ep, eq);
                continue;
            }
            double[] kq = AwqEval.klTop1(fp32, q, heldOut, 2048, 128), kp = AwqEval.klTop1(fp32, plain, heldOut, 2048, 128);
            System.out.printf(Locale.ROOT, "imatrix %s on a dim-256 model with outlier channels, held-out: KL %.5f -> %.5f, top1 %.4f -> %.4f, output error %.4g -> %.4g%n",
                    type, kp[0], kq[0], kp[1], kq[1], ep, eq);
            assertTrue(kq[0] < kp[0], type + ": KL with the matrix " + kq[0] + " vs without " + kp[0]);
        }
    }

    @Test
    void describeListsTheTypesWithTheirRowMultiplesAndTheCalibrationParameters(@TempDir Path tmp) {
        Technique t = new ImatrixTechnique(AwqEval.texts(tmp)).describe();
        assertEquals("imatrix", t.getMethod());
        ParamSpec type = t.getParamsList().stream().filter(p -> p.getName().equals("type")).findFirst().orElseThrow();
        assertEquals("Q4_K", type.getDefaultValue());
        assertEquals(256, type.getRowMultipleOrThrow("Q4_K"));
        assertEquals(256, type.getRowMultipleOrThrow("Q6_K"));
        assertEquals(32, type.getRowMultipleOrThrow("IQ4_NL"));
        assertEquals("fallback", type.getDividesRowsUnless());
        List<String> names = t.getParamsList().stream().map(ParamSpec::getName).toList();
        assertTrue(names.containsAll(List.of("use_imatrix", "calibration", "calib_samples", "calib_seq_len", "calib_mode", "fallback", "ignore", "overrides")), names.toString());
    }

    @Test
    void badParametersAreRefusedNamingTheFieldAndTheTensor(@TempDir Path tmp) throws Exception {
        ImatrixTechnique imatrix = new ImatrixTechnique(AwqEval.texts(tmp));
        Map<String, Tensor> shard = Map.of("blk.0.ffn_down.weight", Tensor.ofFloats("blk.0.ffn_down.weight", new long[]{172, 4}, new float[172 * 4]));
        var e = assertThrows(IllegalArgumentException.class, () -> imatrix.apply(AwqTest.input(shard, Map.of("type", "Q7_K"))));
        assertTrue(e.getMessage().contains("params.type 'Q7_K'") && e.getMessage().contains("IQ4_NL"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> imatrix.apply(AwqTest.input(shard, Map.of("type", "Q4_K"))));
        assertTrue(e.getMessage().contains("blk.0.ffn_down.weight") && e.getMessage().contains("params.fallback"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> imatrix.apply(AwqTest.input(shard, Map.of("type", "Q4_0", "fallback", "Q4_K"))));
        assertTrue(e.getMessage().contains("params.fallback 'Q4_K'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> imatrix.apply(AwqTest.input(shard, Map.of("use_imatrix", "maybe"))));
        assertTrue(e.getMessage().contains("params.use_imatrix 'maybe'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> imatrix.apply(AwqTest.input(shard, Map.of("type", "IQ4_NL", "fallback", "F16", "calib_samples", "0"))));
        assertTrue(e.getMessage().contains("calib_samples"), e.getMessage());

        // calibration text too short: a file of a few words under an allowed root
        AwqEval.Stored in = AwqEval.Stored.of(AwqTest.synthetic(SyntheticModel.Shape.STORIES260K_LIKE.config, tmp, 5), tmp.resolve("blobs"));
        Path text = Files.writeString(tmp.resolve("short.txt"), "Once upon a time there was a tiny model.");
        Map<String, String> p = Map.of("type", "IQ4_NL", "fallback", "F16", "calibration", text.toUri().toString(), "calib_samples", "8", "calib_seq_len", "64");
        e = assertThrows(IllegalArgumentException.class, () -> AwqEval.run(in, imatrix, p, new ArrayList<>()));
        assertTrue(e.getMessage().contains("calibration") && e.getMessage().contains("fewer than"), e.getMessage());
    }

    /**
     * A synthetic Llama whose rows are multiples of 256 (K-quants apply everywhere), its RMSNorm gains log-normal with a
     * few large channels: the uneven input channels of trained LLMs that the importance matrix is for.
     */
    static LlamaModel outlierModel(Path tmp) throws Exception {
        LlamaConfig c = new LlamaConfig(256, 512, 2, 4, 4, 512, 256, 10000f, 1e-5f, false);
        LlamaModel m = AwqTest.synthetic(c, tmp, 17);
        SplittableRandom r = new SplittableRandom(23);
        Map<String, Tensor> norms = new HashMap<>();
        for (Tensor t : m.tensors().values()) {
            if (t.shape().length != 1) continue;
            float[] g = new float[t.cols()];
            for (int j = 0; j < g.length; j++) g[j] = (float) (Math.exp(0.8 * r.nextGaussian()) * (j % 37 == 5 ? 6 : 1));
            norms.put(t.name(), Tensor.ofFloats(t.name(), t.shape(), g));
        }
        return m.withTensors(norms);
    }

    /** Per linear, the Gram matrix sum_t x_t x_t^T of its input on the float model over {@code maxTokens} tokens of {@code text}. */
    static Map<String, double[]> inputGrams(LlamaModel m, String text, int maxTokens, int ctx) {
        TextTokenizer tok = Tokenizers.forVocabulary(m.vocabulary());
        int[] all = tok.encode(text);
        int n = Math.min(all.length, maxTokens), L = m.config().nLayers();
        Map<String, double[]> grams = new LinkedHashMap<>();
        LlamaRuntime.LinearObserver obs = (ws, x, off, T, d) -> {
            double[] g = grams.computeIfAbsent(ws[0].name(), k -> new double[d * d]);
            for (Linear w : ws) grams.putIfAbsent(w.name(), g);
            for (int t = 0; t < T; t++) {
                int b = off + t * d;
                for (int i = 0; i < d; i++) {
                    double xi = x[b + i];
                    for (int j = i; j < d; j++) g[i * d + j] += xi * x[b + j]; // upper triangle; mirrored below
                }
            }
        };
        LlamaRuntime rt = new LlamaRuntime(m);
        Tensor head = m.classifier();
        for (int off = 0; off + ctx - 1 <= n; off += ctx - 1) {
            int[] w = new int[ctx];
            w[0] = tok.bos();
            System.arraycopy(all, off, w, 1, ctx - 1);
            LlamaRuntime.Session s = rt.newSession(ctx);
            s.observe(obs);
            float[] normed = s.outputNormed(s.layers(s.embed(w, 0, ctx), ctx, 0, L), ctx);
            obs.input(new Linear[]{new Linear(head.name(), head.type(), head.data(), head.cols(), head.rows())}, normed, 0, ctx, normed.length / ctx);
        }
        Set<double[]> distinct = Collections.newSetFromMap(new IdentityHashMap<>()); // q/k/v share one
        distinct.addAll(grams.values());
        for (double[] g : distinct) {
            int d = (int) Math.round(Math.sqrt(g.length));
            for (int i = 0; i < d; i++) for (int j = 0; j < i; j++) g[i * d + j] = g[j * d + i];
        }
        return grams;
    }

    /** sum_t ||(W - Q) x_t||^2 = sum_rows d^T G d. */
    static double outputError(Tensor w, Tensor q, double[] gram) {
        float[] a = w.toFloats(), b = TensorCodecs.dequantize(q);
        int n = w.cols();
        double[] d = new double[n];
        double err = 0;
        for (int row = 0; row < a.length / n; row++) {
            for (int j = 0; j < n; j++) d[j] = a[row * n + j] - b[row * n + j];
            for (int i = 0; i < n; i++) {
                double gi = 0;
                for (int j = 0; j < n; j++) gi += gram[i * n + j] * d[j];
                err += d[i] * gi;
            }
        }
        return err;
    }

    static double weightedError(float[] w, float[] q, float[] imp) {
        double e = 0;
        for (int i = 0; i < w.length; i++) e += imp[i % imp.length] * (double) (w[i] - q[i]) * (w[i] - q[i]);
        return e;
    }

    static Linear linear(String name, int in, int out) {
        return new Linear(name, GgmlType.F32, Tensor.ofFloats(name, new long[]{in, out}, new float[in * out]).data(), in, out);
    }
}
