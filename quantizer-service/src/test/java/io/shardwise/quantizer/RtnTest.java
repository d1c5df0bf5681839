package io.shardwise.quantizer;

import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RtnTest {

    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.05);
        return v;
    }

    /** Largest |error| in each block of {@code block} values, divided by that block's absmax. */
    static double worstRelativeError(float[] x, float[] y, int block) {
        double worst = 0;
        for (int b = 0; b < x.length; b += block) {
            double amax = 0, err = 0;
            for (int i = b; i < b + block; i++) {
                amax = Math.max(amax, Math.abs(x[i]));
                err = Math.max(err, Math.abs(x[i] - y[i]));
            }
            worst = Math.max(worst, err / amax);
        }
        return worst;
    }

    static double rmse(float[] x, float[] y) {
        double s = 0;
        for (int i = 0; i < x.length; i++) s += (x[i] - y[i]) * (double) (x[i] - y[i]);
        return Math.sqrt(s / x.length);
    }

    @Test
    void q8AndQ4ErrorsStayWithinHalfAStepOfTheirGrids() {
        long[] shape = {128, 24};
        float[] w = random(128 * 24, 1);
        Rtn.Quantized q8 = Rtn.quantize("w", shape, w, GgmlType.Q8_0);
        Rtn.Quantized q4 = Rtn.quantize("w", shape, w, GgmlType.Q4_0);
        assertEquals(GgmlType.Q8_0, q8.tensor().type());
        assertEquals(GgmlType.Q4_0, q4.tensor().type());
        assertTrue(q8.fallback().isEmpty() && q4.fallback().isEmpty());
        assertEquals(24L * 4 * 34, q8.tensor().data().byteSize(), "4 blocks of 34 bytes per row");
        // step d = absmax/127 (Q8_0) or absmax/8 (Q4_0); half a step, plus the fp16 rounding of d
        assertTrue(worstRelativeError(w, q8.tensor().toFloats(), 32) <= 0.6 / 127, "Q8_0 error");
        // Q4_0's grid is -8d..7d: the side opposite the max can be clamped by up to one step
        assertTrue(worstRelativeError(w, q4.tensor().toFloats(), 32) <= 1.05 / 8, "Q4_0 error");
        assertTrue(rmse(w, q4.tensor().toFloats()) > 5 * rmse(w, q8.tensor().toFloats()), "4 bits are coarser than 8");
    }

    @Test
    void perChannelAsymmetricIntsStayWithinOneStepOfEachRow() {
        int cols = 172, rows = 8; // any row length works per channel
        float[] w = random(cols * rows, 2);
        for (ChannelIntType type : ChannelIntType.values()) {
            Rtn.Quantized q = Rtn.quantize("w", new long[]{cols, rows}, w, type);
            assertTrue(q.fallback().isEmpty());
            assertEquals(type, q.tensor().type());
            float[] y = q.tensor().toFloats();
            int levels = (1 << type.bits) - 1;
            for (int r = 0; r < rows; r++) {
                float min = 0, max = 0;
                for (int j = 0; j < cols; j++) {
                    min = Math.min(min, w[r * cols + j]);
                    max = Math.max(max, w[r * cols + j]);
                }
                double step = (max - min) / levels;
                for (int j = 0; j < cols; j++) {
                    assertTrue(Math.abs(w[r * cols + j] - y[r * cols + j]) <= step * 1.0001, type + " row " + r + " col " + j);
                }
            }
        }
    }

    @Test
    void chunkedQuantizationFromAMappedTensorMatchesTheWholeArrayByteForByte(@TempDir Path tmp) throws Exception {
        int cols = 64, rows = Rtn.CHUNK_FLOATS / cols * 2 + 7; // two full chunks and a short one
        float[] w = random(cols * rows, 9);
        Path file = tmp.resolve("w.f32");
        Files.write(file, Tensor.ofFloats("w", new long[]{cols, rows}, w).data().toArray(ValueLayout.JAVA_BYTE));
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Tensor mapped = new Tensor("w", GgmlType.F32, new long[]{cols, rows}, ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena));
            for (TensorType type : List.of(GgmlType.Q8_0, GgmlType.Q4_0, ChannelIntType.I4_ASYM_CH)) {
                Rtn.Quantized chunked = Rtn.quantize(mapped, type, arena);
                Rtn.Quantized whole = Rtn.quantize("w", new long[]{cols, rows}, w, type);
                assertEquals(type, chunked.tensor().type());
                assertEquals(-1, chunked.tensor().data().mismatch(whole.tensor().data()), type + " bytes");
            }
            // a row that fits no block: the F16 fallback is chunked too
            Tensor narrow = new Tensor("n", GgmlType.F32, new long[]{48, 100}, mapped.data().asSlice(0, 48 * 100 * 4));
            Rtn.Quantized f16 = Rtn.quantize(narrow, GgmlType.Q8_0, arena);
            assertEquals(GgmlType.F16, f16.tensor().type());
            assertTrue(f16.fallback().isPresent());
            assertEquals(-1, f16.tensor().data().mismatch(Rtn.quantize("n", new long[]{48, 100}, java.util.Arrays.copyOf(w, 4800), GgmlType.Q8_0).tensor().data()));
        }
    }

    @Test
    void aRowThatDoesNotFitTheBlockFallsBackToF16AndSaysSo() {
        long[] shape = {172, 4};
        float[] w = random(172 * 4, 3);
        Rtn.Quantized q = Rtn.quantize("blk.0.ffn_down.weight", shape, w, GgmlType.Q8_0);
        assertEquals(GgmlType.F16, q.tensor().type());
        assertEquals("blk.0.ffn_down.weight: row 172 % 32 != 0 -> F16 fallback", q.fallback().orElseThrow());
        assertTrue(rmse(w, q.tensor().toFloats()) < 1e-4);
    }

    @Test
    void theTechniqueQuantizesMatricesKeepsNormsAndHonoursIgnore() throws Exception {
        Map<String, Tensor> shard = new LinkedHashMap<>();
        shard.put("blk.0.attn_norm.weight", Tensor.ofFloats("blk.0.attn_norm.weight", new long[]{64}, random(64, 4)));
        shard.put("blk.0.attn_q.weight", Tensor.ofFloats("blk.0.attn_q.weight", new long[]{64, 64}, random(64 * 64, 5)));
        shard.put("blk.0.attn_k.weight", Tensor.ofFloats("blk.0.attn_k.weight", new long[]{64, 32}, random(64 * 32, 6)));
        shard.put("blk.0.ffn_down.weight", Tensor.ofFloats("blk.0.ffn_down.weight", new long[]{48, 64}, random(48 * 64, 7)));
        ShardOutput out = new RtnTechnique().apply(input(shard, Map.of("type", "Q4_0", "ignore", "attn_k")));
        assertEquals(List.of("blk.0.attn_q.weight", "blk.0.ffn_down.weight"), List.copyOf(out.tensors().keySet()));
        assertEquals(GgmlType.Q4_0, out.tensors().get("blk.0.attn_q.weight").type());
        assertEquals(GgmlType.F16, out.tensors().get("blk.0.ffn_down.weight").type());
        assertEquals(1.0, out.stats().get("fallback_tensors"));
        assertEquals(1.0, out.stats().get("quantized_tensors"));
        assertEquals(1.0, out.stats().get("ignored_tensors"));
        assertTrue(out.notes().contains("blk.0.ffn_down.weight: row 48 % 32 != 0 -> F16 fallback"), out.notes().toString());
    }

    @Test
    void aBadTypeOrRegexIsRefusedNamingTheParameter() {
        Map<String, Tensor> shard = Map.of("w", Tensor.ofFloats("w", new long[]{32, 1}, random(32, 8)));
        var e = assertThrows(IllegalArgumentException.class, () -> new RtnTechnique().apply(input(shard, Map.of("type", "Q3_X"))));
        assertTrue(e.getMessage().contains("params.type 'Q3_X'") && e.getMessage().contains("I4_ASYM_CH"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new RtnTechnique().apply(input(shard, Map.of("ignore", "ffn_(down"))));
        assertTrue(e.getMessage().contains("params.ignore entry 'ffn_(down'"), e.getMessage());
    }

    @Test
    void stories260kBlocksBecomeQ8ExceptTheNarrowFfnDown() throws Exception {
        Path dir = Path.of(System.getProperty("shardwise.shared", "../shared"), "data", "stories260K");
        Path bin = dir.resolve("stories260K.bin");
        Assumptions.assumeTrue(Files.exists(bin), () -> {
            System.out.println("skipped: " + bin + " is absent (shared data not mounted)");
            return "shared data absent: " + bin;
        });
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel m = Llama2cCheckpoint.read(bin, dir.resolve("tok512.bin"), arena);
            for (int l = 0; l < m.config().nLayers(); l++) {
                Map<String, Tensor> shard = new LinkedHashMap<>();
                for (String n : TensorNames.blockTensors(l)) shard.put(n, m.tensor(n));
                ShardOutput out = new RtnTechnique().apply(input(shard, Map.of("type", "Q8_0")));
                for (String n : TensorNames.blockMatrices(l)) {
                    TensorType want = n.equals(TensorNames.ffnDown(l)) ? GgmlType.F16 : GgmlType.Q8_0;
                    assertEquals(want, out.tensors().get(n).type(), n);
                }
                assertFalse(out.tensors().containsKey(TensorNames.attnNorm(l)), "norms stay F32");
                assertEquals(1.0, out.stats().get("fallback_tensors"));
                assertEquals(List.of(TensorNames.ffnDown(l) + ": row 172 % 32 != 0 -> F16 fallback"), out.notes());
                double err = rmse(m.tensor(TensorNames.attnQ(l)).toFloats(), out.tensors().get(TensorNames.attnQ(l)).toFloats());
                assertTrue(err > 0 && err < 2e-3, "Q8_0 rmse " + err);
            }
        }
    }

    private static ShardInput input(Map<String, Tensor> tensors, Map<String, String> params) {
        StageSpec stage = StageSpec.newBuilder().setKind(StageKind.QUANTIZE).setMethod("rtn").putAllParams(params).build();
        return new ShardInput("job", stage, ShardRef.newBuilder().setShardId("block.0").build(), tensors, null, "", null, "", null, ShardInput.Progress.NONE);
    }
}
