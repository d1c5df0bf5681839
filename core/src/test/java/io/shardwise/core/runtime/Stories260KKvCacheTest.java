package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** KIVI KV-cache quantization on the real stories260K: perplexity against the float32 cache (issue #5). */
class Stories260KKvCacheTest {
    private static final double FP32_NLL = 1.759937;

    @Test
    void int8KvCacheIsWithinHalfAPercentOfFp32AndInt4Within1Percent() throws IOException {
        LlamaModel m = SharedData.stories260K();
        Path eval = SharedData.require("text/tinystories/eval_sample.txt"), wiki = SharedData.require("text/wikitext-2/wikitext2_test.txt");
        TextTokenizer tok = Tokenizers.forVocabulary(m.vocabulary());
        LlamaRuntime rt = new LlamaRuntime(m, 2);
        Map<KvCacheType, PerplexityResult> ppl = new EnumMap<>(KvCacheType.class);
        for (KvCacheType kv : KvCacheType.values()) {
            PerplexityResult e = Perplexity.evaluateFile(rt, tok, eval, 0, 2, kv);
            PerplexityResult w = Perplexity.evaluateFile(rt, tok, wiki, 20_000, 2, kv);
            ppl.put(kv, e);
            System.out.printf("stories260K KV cache %s (group %d): eval_sample ppl %.4f (NLL %.6f, %d tokens), wikitext2 first 20k tokens ppl %.4f (NLL %.6f), %.0f bytes per token per layer%n",
                    kv.label(), KvCacheType.DEFAULT_GROUP, e.ppl(), e.meanNll(), e.tokens(), w.ppl(), w.meanNll(),
                    kv.bytesPerTokenPerLayer(m.config(), KvCacheType.DEFAULT_GROUP));
        }
        double f32 = ppl.get(KvCacheType.F32).ppl(), i8 = ppl.get(KvCacheType.INT8).ppl(), i4 = ppl.get(KvCacheType.INT4).ppl();
        assertEquals(FP32_NLL, ppl.get(KvCacheType.F32).meanNll(), 1e-6);
        assertTrue(Math.abs(i8 / f32 - 1) <= 0.005, "int8 KV ppl " + i8 + " vs fp32 " + f32);
        // measured: int8 +0.01%, int4 +0.27% (groups of 32 tokens)
        assertTrue(Math.abs(i4 / f32 - 1) <= 0.01, "int4 KV ppl " + i4 + " vs fp32 " + f32);
        assertTrue(Math.abs(i8 - f32) < Math.abs(i4 - f32), "int8 is closer to fp32 than int4: " + i8 + ", " + i4 + " vs " + f32);
        assertTrue(ppl.get(KvCacheType.INT8).meanNll() != FP32_NLL && Math.abs(ppl.get(KvCacheType.INT8).meanNll() - FP32_NLL) > 1e-6,
                "int8 is scored with the quantized cache, not float32's");
    }
}
