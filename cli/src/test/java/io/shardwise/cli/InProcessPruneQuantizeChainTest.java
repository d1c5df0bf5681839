package io.shardwise.cli;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * prune(sparsegpt 50%) -> quantize(gptq 4-bit) on stories260K in one JVM, planned as the gateway plans it (both stages
 * sequential): every weight the pruner zeroed is still exactly zero after GPTQ (keep_zeros), and each stage is scored.
 * The same recipe through Kafka is LocalStackChainIT's.
 */
class InProcessPruneQuantizeChainTest {
    static final String CALIB = "calibration: tinystories-train, calib_samples: 8, calib_seq_len: 64";
    static final String RECIPE = "stages:\n"
            + "  - prune: { method: sparsegpt, sparsity: 0.5, " + CALIB + " }\n"
            + "  - quantize: { method: gptq, bits: 4, group_size: 32, fallback: per_channel, " + CALIB + " }\n"
            + "evaluate: { suites: [tinystories], compare_to: source, max_tokens: 2048 }\n";

    @Test
    void sparseGptThenGptqKeepsTheMaskAndEveryStageIsScored(@TempDir Path dir) throws Exception {
        Path model = SharedData.stories260K();
        SharedData.require("text/tinystories/train_head.txt");
        List<String> log = new ArrayList<>();
        InProcessChain.Result r = new InProcessChain(dir.resolve("blobs"), dir.resolve("out"), RepoLayout.find(), log::add).run(model, RECIPE);
        System.out.print(r.table().render());
        double source = r.table().row(-1).ppl().values().iterator().next();
        double pruned = r.table().row(0).ppl().values().iterator().next();
        double quantized = r.table().row(1).ppl().values().iterator().next();
        System.out.printf(Locale.ROOT, "sparsegpt 50%% -> gptq Q4_0: ppl %.4f -> %.4f -> %.4f%n", source, pruned, quantized);
        assertTrue(pruned > source && pruned < 8 * source, "50% SparseGPT costs perplexity (about x4.5 on stories260K), not all of it: " + pruned + " vs " + source);
        assertTrue(quantized > pruned * 0.98 && quantized < pruned * 1.35, "4-bit GPTQ on the sparse model: " + quantized + " vs " + pruned);

        ModelStore store = new ModelStore(new FileBlobStore(dir.resolve("blobs")));
        assertEquals(0.5, maskedShareKept(store, store.manifest(r.finalManifest()).getParent(), r.finalManifest()), 0.01,
                "SparseGPT's 50% of the block matrices");
    }

    /**
     * The share of block-matrix weights that are zero in model {@code pruned}, after checking that every one of them is
     * still exactly zero in its quantized child {@code quantized} (whose matrices must all be quantized).
     */
    static double maskedShareKept(ModelStore store, String pruned, String quantized) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel p = store.load(pruned, arena), q = store.load(quantized, arena);
            long masked = 0, elements = 0;
            for (int l = 0; l < p.config().nLayers(); l++) {
                for (String name : TensorNames.blockMatrices(l)) {
                    float[] a = TensorCodecs.dequantize(p.tensor(name)), b = TensorCodecs.dequantize(q.tensor(name));
                    assertTrue(!q.tensor(name).type().typeName().startsWith("F"), name + " was quantized: " + q.tensor(name).type().typeName());
                    for (int i = 0; i < a.length; i++) {
                        if (a[i] != 0) continue;
                        masked++;
                        if (b[i] != 0) throw new AssertionError(name + "[" + i + "] was pruned but GPTQ made it " + b[i]);
                    }
                    elements += a.length;
                }
            }
            return (double) masked / elements;
        }
    }
}
