package io.shardwise.core.runtime;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.synth.SyntheticModel;
import io.shardwise.core.tensor.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PageReleaseTest {

    /** Dropping each layer's mapped pages after use re-reads them from the page cache: the numbers must not change. */
    @Test
    void releasingPagesGivesTheSameNll(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("m.gguf");
        new SyntheticModel(SyntheticModel.Shape.STORIES260K_LIKE.config, 3).writeGguf(file, GgmlType.Q8_0, "m");
        try (Arena arena = Arena.ofShared()) {
            LlamaModel m = GgufLlama.read(file, arena);
            assertTrue(m.tensor("blk.0.attn_q.weight").data().isMapped());
            int[] tokens = new int[200];
            for (int i = 0; i < tokens.length; i++) tokens[i] = 3 + (i * 37) % 400;
            LlamaRuntime plain = new LlamaRuntime(m, 1);
            LlamaRuntime releasing = plain.releasingPages();
            double[] a = Perplexity.chunkNll(plain.newSession(256), 1, tokens, 0, tokens.length);
            double[] b = Perplexity.chunkNll(releasing.newSession(256), 1, tokens, 0, tokens.length);
            double[] c = Perplexity.chunkNll(plain.newSession(256), 1, tokens, 0, tokens.length);
            assertArrayEquals(a, c, 0.0, "deterministic");
            assertArrayEquals(a, b, 0.0, "page release changed the numbers");
        }
    }
}
