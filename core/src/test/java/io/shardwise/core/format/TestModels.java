package io.shardwise.core.format;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Models for format tests: the real stories260K (skipped when shared data is absent) and tiny seeded ones. */
final class TestModels {
    private TestModels() {
    }

    /** {@code <shared>/data/stories260K}, or aborts the calling test with a printed reason. */
    static Path stories260K() {
        Path d = Path.of(System.getProperty("shardwise.shared", "../shared"), "data", "stories260K");
        if (!Files.isRegularFile(d.resolve("stories260K.bin")) || !Files.isRegularFile(d.resolve("tok512.bin"))) {
            String why = "skipped: stories260K not found at " + d.toAbsolutePath();
            System.out.println(why);
            Assumptions.abort(why);
        }
        return d;
    }

    /** A tiny random Llama (dim 32 so Q8_0/Q4_0 fit, hidden 48, 2 layers, GQA 4/2, vocab 16) with a llama2.c-style vocabulary. */
    static LlamaModel tiny(long seed, boolean tied) {
        LlamaConfig c = new LlamaConfig(32, 48, 2, 4, 2, 16, 64, 10000f, 1e-5f, tied);
        List<String> tokens = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n", "<0x00>", "<0x0A>", "<0xFF>", " ", " the", "he", "é", "llo", " w", "or", "ld", "!", "a b"));
        float[] scores = new float[16];
        for (int i = 0; i < 16; i++) scores[i] = i < 6 ? 0f : -i;
        scores[6] = -0.0f;
        Vocabulary v = new Vocabulary(tokens, scores, 6, 1, 2);
        Random r = new Random(seed);
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : GgufLlama.expectedShapes(c).entrySet()) {
            long[] shape = e.getValue();
            float[] values = new float[(int) io.shardwise.core.tensor.TensorType.elements(shape)];
            for (int i = 0; i < values.length; i++) values[i] = shape.length == 1 ? 1f + 0.1f * (float) r.nextGaussian() : 0.02f * (float) r.nextGaussian();
            m.put(e.getKey(), Tensor.ofFloats(e.getKey(), shape, values));
        }
        return new LlamaModel(c, v, m);
    }
}
