package io.shardwise.core.runtime;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A stage that outputs narrower attn_q/attn_k/attn_v and attn_output (attention-head pruning): derive sets the head counts, head_dim stays. */
class HeadCountDeriveTest {
    static final StageSpec STAGE = StageSpec.newBuilder().setName("prune").setMethod("attention_heads").build();
    @TempDir
    Path tmp;

    /** Rows [0, keep) of a (rows x cols) matrix. */
    private static Tensor firstRows(Tensor t, int keep) {
        int cols = (int) t.cols();
        return Tensor.ofFloats(t.name(), new long[]{cols, keep}, Arrays.copyOf(t.toFloats(), keep * cols));
    }

    private static Tensor firstColumns(Tensor t, int keep) {
        int cols = (int) t.cols(), rows = (int) t.rows();
        float[] w = t.toFloats(), out = new float[rows * keep];
        for (int r = 0; r < rows; r++) System.arraycopy(w, r * cols, out, r * keep, keep);
        return Tensor.ofFloats(t.name(), new long[]{keep, rows}, out);
    }

    /** dim 32, 4 heads of 8 over 2 kv heads; the last kv group (kv head 1, query heads 2 and 3) removed in every layer. */
    @Test
    void narrowerQkvSetHeadCountsAndKeepHeadDim() throws Exception {
        LlamaModel m = TinyModels.random(new LlamaConfig(32, 40, 2, 4, 2, 48, 24, 10000f, 1e-5f, false), 7);
        ModelStore store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        String parent = store.importModel(m, "test:parent", "parent");
        List<Tensor> out = new ArrayList<>();
        for (int l = 0; l < 2; l++) {
            out.add(firstRows(m.tensor(TensorNames.attnQ(l)), 16));
            out.add(firstRows(m.tensor(TensorNames.attnK(l)), 8));
            out.add(firstRows(m.tensor(TensorNames.attnV(l)), 8));
            out.add(firstColumns(m.tensor(TensorNames.attnOutput(l)), 16));
        }
        String child = store.derive(parent, STAGE, store.storeTensors(out));
        var c = store.manifest(child).getConfig();
        assertEquals(2, c.getNHeads());
        assertEquals(1, c.getNKvHeads());
        assertEquals(8, c.getHeadDim());
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel small = store.load(child, arena);
            assertEquals(16, small.config().qDim());
            assertEquals(8, small.config().kvDim());
            new LlamaRuntime(small).newSession(4).forward(new int[]{1, 2, 3}, 0, 3); // runs at the new shapes
        }
    }

    @Test
    void differentHeadCountsAcrossLayersAreRefused() throws Exception {
        LlamaModel m = TinyModels.random(new LlamaConfig(32, 40, 2, 4, 2, 48, 24, 10000f, 1e-5f, false), 8);
        ModelStore store = new ModelStore(new FileBlobStore(tmp.resolve("blobs")));
        String parent = store.importModel(m, "test:parent", "parent");
        List<Tensor> out = List.of(firstRows(m.tensor(TensorNames.attnQ(0)), 16), firstRows(m.tensor(TensorNames.attnK(0)), 8));
        var e = assertThrows(IllegalArgumentException.class, () -> store.derive(parent, STAGE, store.storeTensors(out)));
        assertTrue(e.getMessage().contains("attn_q/attn_k rows") && e.getMessage().contains("n_heads"), e.getMessage());
    }
}
