package io.shardwise.core.runtime;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A stage that removes whole blocks (ShortGPT): the derived manifest drops them, renumbers the blocks above, lowers n_layers. */
class BlockRemovalTest {
    static final StageSpec STAGE = StageSpec.newBuilder().setName("prune").setMethod("shortgpt").build();
    @TempDir
    Path tmp;
    ModelStore store;
    LlamaModel m;
    String parent;

    @BeforeEach
    void setUp() throws Exception {
        m = TinyModels.random(new LlamaConfig(32, 40, 4, 4, 2, 48, 24, 10000f, 1e-5f, false), 7);
        store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        parent = store.importModel(m, "test:parent", "parent");
    }

    static List<String> block(int b) {
        return TensorNames.blockTensors(b);
    }

    /** {@code m} without blocks 1 and 2 as the test builds it by hand: block 3 becomes block 1. */
    LlamaModel byHand(Map<String, Tensor> replacedInBlock3) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (Tensor x : m.tensors().values()) {
            int b = TensorNames.blockOf(x.name());
            if (b == 1 || b == 2) continue;
            Tensor y = replacedInBlock3.getOrDefault(x.name(), x);
            String name = b == 3 ? "blk.1" + x.name().substring("blk.3".length()) : x.name();
            t.put(name, y.withName(name));
        }
        LlamaConfig c = m.config();
        return new LlamaModel(new LlamaConfig(c.dim(), c.hiddenDim(), 2, c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen(),
                c.ropeTheta(), c.normEps(), c.tiedEmbeddings()), m.vocabulary(), t);
    }

    @Test
    void removedBlocksAreGoneAndTheOnesAboveRenumbered() throws Exception {
        // block 3's ffn_down replaced in the same stage: the replacement moves with its block
        String down3 = TensorNames.ffnDown(3);
        float[] v = m.tensor(down3).toFloats();
        for (int i = 0; i < v.length; i++) v[i] *= 0.5f;
        Tensor half = Tensor.ofFloats(down3, m.tensor(down3).shape(), v);
        List<String> removed = new ArrayList<>(block(1));
        removed.addAll(block(2));
        ShardOutput out = ShardOutput.removing(removed, Map.of(), List.of());
        assertEquals(removed.size(), out.removed().size());
        String child = store.derive(parent, STAGE, store.storeTensors(List.of(half)), out.removed());
        var manifest = store.manifest(child);
        assertEquals(2, manifest.getConfig().getNLayers());
        assertEquals(parent, manifest.getParent());
        List<String> names = manifest.getTensorsList().stream().map(TensorEntry::getName).toList();
        assertEquals(names.stream().sorted().toList(), names, "manifest tensors stay sorted by name");
        try (Arena arena = Arena.ofShared()) {
            LlamaModel got = store.load(child, arena), want = byHand(Map.of(down3, half));
            assertEquals(want.tensors().keySet(), got.tensors().keySet());
            for (Tensor w : want.tensors().values()) {
                Tensor g = got.tensor(w.name());
                assertEquals(-1, w.data().mismatch(g.data()), w.name() + ": bytes differ");
            }
            assertEquals(m.parameterCount() - 2 * block(0).stream().mapToLong(n -> m.tensor(n).elements()).sum(), got.parameterCount());
            int[] tokens = new SplittableRandom(3).ints(40, 0, m.config().vocabSize()).toArray();
            assertEquals(Perplexity.evaluateTokens(new LlamaRuntime(want, 1), 1, tokens, 1).meanNll(),
                    Perplexity.evaluateTokens(new LlamaRuntime(got, 1), 1, tokens, 1).meanNll(), 0.0);
        }
    }

    @Test
    void onlyWholeBlocksOfTheModelCanBeRemovedAndNotAll() throws Exception {
        List<String> partial = new ArrayList<>(block(1));
        partial.remove(TensorNames.ffnUp(1));
        assertRefused(List.of(), partial, "keeps " + TensorNames.ffnUp(1));
        assertRefused(List.of(), List.of(TensorNames.OUTPUT_NORM), "only whole blocks");
        assertRefused(List.of(), List.of("blk.7.ffn_up.weight"), "does not have");
        List<String> all = new ArrayList<>();
        for (int b = 0; b < 4; b++) all.addAll(block(b));
        assertRefused(List.of(), all, "no block would be left");
        List<TensorEntry> both = store.storeTensors(List.of(m.tensor(TensorNames.ffnUp(1))));
        assertRefused(both, block(1), "both replaces and removes");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ShardOutput(Map.of(TensorNames.ffnUp(1), m.tensor(TensorNames.ffnUp(1))), Map.of(), List.of(), "", "", Set.of(TensorNames.ffnUp(1))));
        assertTrue(e.getMessage().contains("both replaces and removes"), e.getMessage());
    }

    void assertRefused(List<TensorEntry> replaced, List<String> removed, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> store.derive(parent, STAGE, replaced, removed));
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
