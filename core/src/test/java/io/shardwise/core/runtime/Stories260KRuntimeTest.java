package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Sampler.Sampling;
import io.shardwise.core.tensor.GgmlType;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The runtime on the real stories260K model: stored-type kernels, threads and generation (issue #4). */
class Stories260KRuntimeTest {
    private static final double FP32_NLL = 1.759937;

    private static int[] evalTokens(LlamaModel m, int max) throws IOException {
        int[] ids = new Tokenizer(m.vocabulary()).encode(Files.readAllBytes(SharedData.require("text/tinystories/eval_sample.txt")));
        return max == 0 ? ids : Arrays.copyOf(ids, max);
    }

    private static PerplexityResult score(LlamaModel m, LlamaRuntime rt, int maxTokens, String label) throws IOException {
        long t0 = System.nanoTime();
        PerplexityResult r = Perplexity.evaluateTokens(rt, m.vocabulary().bos(), evalTokens(m, maxTokens), 1);
        System.out.printf("stories260K %s on eval_sample: %d tokens, mean NLL %.6f, ppl %.4f (%.1f s, %d threads, %s)%n", label, r.tokens(),
                r.meanNll(), r.ppl(), (System.nanoTime() - t0) / 1e9, rt.threads(), rt.rowKernels().getClass().getSimpleName());
        return r;
    }

    private static LlamaRuntime runtime(LlamaModel m, Kernels k, RowKernels rk, int threads) {
        return new LlamaRuntime(new LlamaWeights(m), k, rk, ParallelRows.of(threads));
    }

    @Test
    void quantizedModelsScoreWithTheirOwnKernelsCloseToFp32() throws IOException {
        LlamaModel f32 = SharedData.stories260K();
        LlamaModel q8 = LlamaRuntimeTest.quantized(f32, GgmlType.Q8_0), q4 = LlamaRuntimeTest.quantized(f32, GgmlType.Q4_0);
        assertEquals(GgmlType.Q8_0, q8.tensor(TensorNames.ffnGate(0)).type());
        assertEquals(GgmlType.F16, q8.tensor(TensorNames.ffnDown(0)).type(), "172-wide rows fall back to F16");
        PerplexityResult p32 = score(f32, new LlamaRuntime(f32), 0, "F32");
        PerplexityResult p8 = score(q8, new LlamaRuntime(q8), 0, "Q8_0");
        PerplexityResult p4 = score(q4, new LlamaRuntime(q4), 0, "Q4_0");
        assertEquals(FP32_NLL, p32.meanNll(), 0.002);
        assertTrue(p8.ppl() <= p32.ppl() * 1.005, "Q8_0 ppl " + p8.ppl() + " vs fp32 " + p32.ppl());
        assertTrue(Math.abs(p8.meanNll() - p32.meanNll()) > 1e-6, "Q8_0 is scored with its own arithmetic, not fp32's");
        assertTrue(p4.ppl() > p8.ppl() && p4.ppl() <= p32.ppl() * 1.13, "Q4_0 ppl " + p4.ppl() + " vs fp32 " + p32.ppl());
    }

    @Test
    void scalarAndVectorKernelsGiveTheSameNll() throws IOException {
        LlamaModel f32 = SharedData.stories260K();
        LlamaModel f16 = LlamaRuntimeTest.quantized(f32, GgmlType.F16), q8 = LlamaRuntimeTest.quantized(f32, GgmlType.Q8_0);
        for (LlamaModel m : new LlamaModel[]{f32, f16}) {
            PerplexityResult v = score(m, runtime(m, VectorKernels.INSTANCE, VectorRowKernels.INSTANCE, 2), 1533, "vector");
            PerplexityResult s = score(m, runtime(m, ScalarKernels.INSTANCE, ScalarRowKernels.INSTANCE, 2), 1533, "scalar");
            assertEquals(s.meanNll(), v.meanNll(), 1e-5);
        }
        // Q8_0 activations: a last-bit difference can move a value to the next quantization step, and the change reaches
        // every later position through the KV cache (measured: ~1/4 of the tokens move, mean NLL by ~2e-4)
        PerplexityResult v = score(q8, runtime(q8, VectorKernels.INSTANCE, VectorRowKernels.INSTANCE, 2), 1533, "vector");
        PerplexityResult s = score(q8, runtime(q8, ScalarKernels.INSTANCE, ScalarRowKernels.INSTANCE, 2), 1533, "scalar");
        assertEquals(s.meanNll(), v.meanNll(), 1e-3);
    }

    @Test
    void theThreadCountDoesNotChangeTheNumbers() throws IOException {
        LlamaModel q8 = LlamaRuntimeTest.quantized(SharedData.stories260K(), GgmlType.Q8_0);
        int[] ids = evalTokens(q8, 1022);
        double[][] nll = new double[3][];
        // the Vector API's float reductions may round otherwise before the JIT compiles them: compare warm code
        Perplexity.chunkNll(runtime(q8, Kernels.preferred(), RowKernels.preferred(), 1).newSession(511), q8.vocabulary().bos(), ids, 0, 511);
        for (int threads = 1; threads <= 3; threads++) {
            LlamaRuntime.Session s = runtime(q8, Kernels.preferred(), RowKernels.preferred(), threads).newSession(511);
            nll[threads - 1] = Perplexity.chunkNll(s, q8.vocabulary().bos(), ids, 511, 511);
        }
        assertEquals(Arrays.toString(nll[0]), Arrays.toString(nll[1]));
        assertEquals(Arrays.toString(nll[0]), Arrays.toString(nll[2]));
        String one = Generator.of(q8, runtime(q8, Kernels.preferred(), RowKernels.preferred(), 1)).generate(120, 0.9f, 5);
        String two = Generator.of(q8, runtime(q8, Kernels.preferred(), RowKernels.preferred(), 2)).generate(120, 0.9f, 5);
        assertEquals(one, two);
    }

    @Test
    void generationContinuesAPromptAndSamplesReproducibly() throws IOException {
        LlamaModel m = SharedData.stories260K();
        Generator g = Generator.of(m, new LlamaRuntime(m));
        Generator.Generation greedy = g.generate("Once upon a time, there was a little girl", 60, Sampling.GREEDY);
        System.out.println(greedy.text() + "\n" + greedy.promptTokens() + " prompt tokens, " + greedy.generatedTokens() + " generated");
        assertTrue(greedy.text().startsWith("Once upon a time, there was a little girl named Lily."), greedy.text());
        assertEquals(60 - greedy.promptTokens() + 1, greedy.generatedTokens(), "one token per remaining position");
        assertTrue(greedy.promptTokensPerSecond() > 0 && greedy.generatedTokensPerSecond() > 0);
        Sampling warm = new Sampling(1.0f, 0.9f, 1234);
        String a = g.generate("Tom had a dog", 80, warm).text(), b = g.generate("Tom had a dog", 80, warm).text();
        assertEquals(a, b, "same seed, same text");
        assertTrue(a.startsWith("Tom had a dog"), a);
        assertNotEquals(a, g.generate("Tom had a dog", 80, new Sampling(1.0f, 0.9f, 99)).text());
        assertThrows(IllegalArgumentException.class, () -> g.generate("Once upon a time there was a girl", 4, Sampling.GREEDY));
    }
}
