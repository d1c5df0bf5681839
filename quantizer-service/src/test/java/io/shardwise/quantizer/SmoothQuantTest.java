package io.shardwise.quantizer;

import io.shardwise.core.calib.BlockCalibration;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.work.ShardInput;
import io.shardwise.core.work.ShardOutput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SmoothQuantTest {
    @TempDir
    Path tmp;

    @Test
    void scalesFollowTheEquationAndLeaveDeadChannelsAlone() {
        float[] xMax = {4f, 0f, 9f};
        float[] w = {0.5f, 0.2f, -1f, 0.25f, 0.1f, 0.3f}; // 2 rows of 3: column maxima 0.5, 0.2, 1
        float[] s = SmoothQuant.scales(xMax, List.of(w), 3, 0.5);
        assertEquals(Math.sqrt(4) / Math.sqrt(0.5), s[0], 1e-6);
        assertEquals(1f, s[1], "no calibration token reached channel 1");
        assertEquals(3f, s[2], 1e-6);
        assertEquals(1f, SmoothQuant.scales(xMax, List.of(w), 3, 0.0)[0] * 0.5f, 1e-6, "alpha 0: s = 1 / max|W|");
        assertEquals(4f, SmoothQuant.scales(xMax, List.of(w), 3, 1.0)[0], 1e-6, "alpha 1: s = max|X|");
    }

    @Test
    void smoothingAloneKeepsTheFloatBlockOutput() throws Exception {
        Int8Eval.Stored in = Int8Eval.Stored.stories260K(tmp.resolve("store"));
        CalibrationSpec spec = CalibrationSpec.fromParams(Int8Eval.calib("calib_samples", "4", "calib_seq_len", "64"), CalibrationMode.INDEPENDENT);
        int l = 2;
        List<String> names = TensorNames.blockTensors(l);
        ShardInput si = in.input("block." + l, names, Int8Eval.stage("smoothquant", Map.of()), "");
        BlockCalibration cal = BlockCalibration.open(si, spec, Int8Eval.texts(tmp).resolve(spec.dataset()));
        Map<String, float[]> xMax = SmoothQuant.inputMaxima(cal);
        assertEquals(7, xMax.size(), "every linear of the block saw its input");
        Map<String, Tensor> smoothed = SmoothQuant.smooth(si.tensors(), xMax, name -> 0.8);
        assertEquals(8, smoothed.size(), "6 smoothed linears (not attn_output; ffn_up also the divisor of ffn_down) and 2 norms");
        assertFalse(smoothed.containsKey(TensorNames.attnOutput(l)));
        float[] norm = in.model().tensor(TensorNames.attnNorm(l)).toFloats(), norm2 = smoothed.get(TensorNames.attnNorm(l)).toFloats();
        double changed = 0;
        for (int j = 0; j < norm.length; j++) changed = Math.max(changed, Math.abs(norm2[j] / norm[j] - 1));
        assertTrue(changed > 0.05, "the norm was rescaled: " + changed);

        LlamaModel model = in.model();
        LlamaModel smooth = model.withTensors(smoothed);
        int T = 48;
        int[] tokens = new int[T];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < T; i++) tokens[i] = r.nextInt(model.config().vocabSize());
        float[] a = run(model, tokens, l), b = run(smooth, tokens, l);
        double worst = 0, scale = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
        }
        assertTrue(worst <= 1e-5 * scale, "block output moved by " + worst + " (max |h| " + scale + ")");
    }

    private static float[] run(LlamaModel m, int[] tokens, int l) {
        LlamaRuntime.Session s = new LlamaRuntime(m).newSession(tokens.length);
        float[] h = s.embed(tokens, 0, tokens.length);
        return s.layers(h, tokens.length, 0, l + 1);
    }

    @Test
    void fp32Baseline() throws Exception {
        Int8Eval.Stored in = Int8Eval.Stored.stories260K(tmp.resolve("store"));
        Int8Eval.Score f = Int8Eval.score(in.model(), in.model());
        Int8Eval.print("fp32", "F32", f);
        assertEquals(Int8Eval.FP32_PPL, f.pplEval(), 1e-3);
        assertEquals(1.0, f.top1());
    }

    /** Quantizes with {@code alpha}, checks the types, prints and asserts the table line; the model. */
    private LlamaModel w8a8(Int8Eval.Stored in, String alpha) throws Exception {
        Map<String, Double> stats = new LinkedHashMap<>();
        LlamaModel q = Int8Eval.run(in, new SmoothQuantTechnique(Int8Eval.texts(tmp)), Int8Eval.calib("alpha", alpha), stats, new ArrayList<>());
        for (int l = 0; l < q.config().nLayers(); l++) {
            for (String n : TensorNames.blockMatrices(l)) assertEquals(RowInt8Type.I8_SYM_CH, q.tensor(n).type(), n);
            assertEquals(GgmlType.F32, q.tensor(TensorNames.attnNorm(l)).type());
        }
        assertEquals(5.0 * 7, stats.get("quantized_tensors"), "every block linear (stories260K ties its classifier)");
        Int8Eval.Score s = Int8Eval.score(in.model(), q);
        Int8Eval.print("smoothquant", "W8A8 I8_SYM_CH alpha " + alpha, s);
        assertTrue(s.pplEval() <= 1.01 * Int8Eval.FP32_PPL, "alpha " + alpha + ": ppl " + s.pplEval() + " vs fp32 " + Int8Eval.FP32_PPL);
        return q;
    }

    @Test
    void w8a8WithAlpha08IsWithinOnePercentOfFp32() throws Exception {
        w8a8(Int8Eval.Stored.stories260K(tmp.resolve("store")), "0.8");
    }

    @Test
    void w8a8IsWithinOnePercentOfFp32AndRunsInt8() throws Exception {
        LlamaModel best = w8a8(Int8Eval.Stored.stories260K(tmp.resolve("store")), "0.5");
        // the runtime took the int8 path: logits differ from the same weights in F32 (float activations), by little
        Map<String, Tensor> deq = new LinkedHashMap<>();
        for (Tensor x : best.tensors().values()) {
            if (x.type() instanceof RowInt8Type) deq.put(x.name(), Tensor.ofFloats(x.name(), x.shape(), x.toFloats()));
        }
        LlamaModel floats = best.withTensors(deq);
        int[] tokens = {1, 67, 300, 45, 12, 99, 7, 310};
        LlamaRuntime.Logits a = new LlamaRuntime(best).newSession(8).forward(tokens, 0, 8);
        LlamaRuntime.Logits b = new LlamaRuntime(floats).newSession(8).forward(tokens, 0, 8);
        double diff = 0, mag = 0;
        for (int i = 0; i < a.data().length; i++) {
            diff = Math.max(diff, Math.abs(a.data()[i] - b.data()[i]));
            mag = Math.max(mag, Math.abs(b.data()[i]));
        }
        System.out.println("W8A8 vs the same weights in F32 (float activations): max |logit diff| " + diff + " of max |logit| " + mag);
        assertTrue(diff > 1e-4 * mag, "int8 activations change the logits: " + diff);
        assertTrue(diff < 0.05 * mag, "by the activation quantization only: " + diff);
    }

    @Test
    void sequentialCalibrationHandsActivationsOnAndStaysWithinOnePercent() throws Exception {
        Int8Eval.Stored in = Int8Eval.Stored.stories260K(tmp.resolve("store"));
        List<String> blobs = new ArrayList<>();
        LlamaModel q = Int8Eval.run(in, new SmoothQuantTechnique(Int8Eval.texts(tmp)),
                Int8Eval.calib("alpha", "0.5", "calib_mode", "sequential", "calib_samples", "16"), new LinkedHashMap<>(), blobs);
        List<String> shards = List.copyOf(in.shards().keySet());
        for (int i = 0; i < shards.size(); i++) {
            assertEquals(shards.get(i).startsWith("block."), !blobs.get(i).isEmpty(), shards.get(i) + " activation blob");
        }
        Int8Eval.Score s = Int8Eval.score(in.model(), q);
        Int8Eval.print("smoothquant", "W8A8 alpha 0.5 sequential (16x256)", s);
        assertTrue(s.pplEval() <= 1.01 * Int8Eval.FP32_PPL, "ppl " + s.pplEval());
    }

    @Test
    void badParametersAreRefusedNamingTheField() throws Exception {
        Int8Eval.Stored in = Int8Eval.Stored.stories260K(tmp.resolve("store"));
        SmoothQuantTechnique t = new SmoothQuantTechnique(Int8Eval.texts(tmp));
        List<String> names = TensorNames.blockTensors(0);
        for (var c : List.of(
                Map.entry(Map.of("alpha", "1.5"), "params.alpha 1.5 is outside [0, 1]"),
                Map.entry(Map.of("alpha", "-0.1"), "params.alpha -0.1 is outside [0, 1]"),
                Map.entry(Map.of("alpha", "high"), "params.alpha 'high' is not a number"),
                Map.entry(Map.of("alpah", "0.5"), "unknown parameter 'alpah'"),
                Map.entry(Map.of("overrides", "{\"attn_q\": {\"bits\": 4}}"), "sets bits; only alpha"),
                Map.entry(Map.of("overrides", "{\"attn_q\": {\"alpha\": 2}}"), "params.overrides.attn_q.alpha 2 is outside [0, 1]"),
                Map.entry(Map.of("calib_samples", "0"), "calib_samples: 0 is outside"))) {
            var e = assertThrows(IllegalArgumentException.class, () -> t.apply(in.input("block.0", names, Int8Eval.stage("smoothquant", c.getKey()), "")));
            assertTrue(e.getMessage().contains(c.getValue()), e.getMessage());
        }
        assertTrue(t.describe().getParamsList().stream().anyMatch(p -> p.getName().equals("alpha") && p.getMax() == 1));
    }

    @Test
    void ignoredLinearsStayFloatButSmoothedAndTheEmbeddingShardIsUntouched() throws Exception {
        Int8Eval.Stored in = Int8Eval.Stored.stories260K(tmp.resolve("store"));
        SmoothQuantTechnique t = new SmoothQuantTechnique(Int8Eval.texts(tmp));
        ShardOutput o = t.apply(in.input("block.1", TensorNames.blockTensors(1),
                Int8Eval.stage("smoothquant", Int8Eval.calib("ignore", "attn_k", "calib_samples", "4", "calib_seq_len", "64")), ""));
        assertEquals(GgmlType.F32, o.tensors().get(TensorNames.attnK(1)).type());
        assertEquals(RowInt8Type.I8_SYM_CH, o.tensors().get(TensorNames.attnQ(1)).type());
        assertEquals(RowInt8Type.I8_SYM_CH, o.tensors().get(TensorNames.attnOutput(1)).type());
        assertEquals(1.0, o.stats().get("ignored_tensors"));
        assertEquals(6.0, o.stats().get("quantized_tensors"));
        ShardOutput e = t.apply(in.input("embed", List.of(TensorNames.TOKEN_EMBD), Int8Eval.stage("smoothquant", Map.of()), ""));
        assertTrue(e.tensors().isEmpty());
    }
}
