package io.shardwise.pruner;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.LowRankPairs;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The low-rank techniques on the real stories260K, calibrated on TinyStories training text, scored on the evaluation
 * sample (and WikiText-2's first 20k tokens) with KL and top-1 agreement against fp32. Each output model is derived as
 * the coordinator derives it and run by the runtime as two matmuls per factorized layer; its perplexity must equal that
 * of the same function as dense weights (B A, plus Q(W) for LoRC).
 */
class LowRankQualityTest {
    static final Map<String, String> CALIBRATION = Map.of("calibration", "tinystories-train", "calib_samples", "16", "calib_seq_len", "256");

    /**
     * The runtime's two-matmul model and the dense reconstruction compute the same function: to float rounding, or
     * within {@code tolerance} where the runtime's quantized kernels also round the activations (Q4_0 x Q8_0 dots).
     */
    static LlamaModel checkedRuntimeModel(LowRankEval.Stored in, LowRankEval.Run run, String what, double tolerance) throws Exception {
        LlamaModel m = run.derived(in);
        double factored = LowRankEval.pplEval(m), dense = LowRankEval.pplEval(run.reconstructed(in.model()));
        assertEquals(dense, factored, tolerance * dense, what + ": two matmuls vs the dense product");
        return m;
    }

    @Test
    void asvdBeatsSvdAtTheSameParameterBudget(@TempDir Path tmp) throws Exception {
        LowRankEval.Stored in = LowRankEval.Stored.stories260K(tmp.resolve("blobs"));
        LowRankEval.shared("text/tinystories/train_head.txt");
        LowRankEval.Score base = LowRankEval.score(in.model(), in.model());
        LowRankEval.print("fp32", "F32", base);
        AsvdTechnique asvd = new AsvdTechnique(LowRankEval.texts(tmp));
        for (String budget : new String[]{"0.5", "0.75"}) {
            LowRankEval.Run svd = LowRankEval.run(in, new SvdTechnique(), Map.of("budget", budget));
            Map<String, String> p = new LinkedHashMap<>(CALIBRATION);
            p.put("budget", budget);
            LowRankEval.Run a = LowRankEval.run(in, asvd, p);
            assertEquals(svd.stats().get("kept_params"), a.stats().get("kept_params"), "same parameter count");
            assertEquals(35.0, a.stats().get("factorized_tensors"), "5 blocks x 7 matrices");
            LlamaModel svdModel = checkedRuntimeModel(in, svd, "svd " + budget, 1e-4), asvdModel = checkedRuntimeModel(in, a, "asvd " + budget, 1e-4);
            assertFalse(asvdModel.tensors().containsKey(TensorNames.attnQ(0)), "the factors replace the weight");
            long removed = (long) (double) a.stats().get("weight_params") - (long) (double) a.stats().get("kept_params");
            assertEquals(in.model().parameterCount() - removed, asvdModel.parameterCount());
            LowRankEval.Score s = LowRankEval.score(in.model(), svdModel), as = LowRankEval.score(in.model(), asvdModel);
            String setting = "budget " + budget + " F16 (" + (long) (double) svd.stats().get("kept_params") + "/" + (long) (double) svd.stats().get("weight_params") + " params)";
            LowRankEval.print("svd", setting, s);
            LowRankEval.print("asvd a=0.5", setting, as);
            assertTrue(as.pplEval() < s.pplEval(), "budget " + budget + ": asvd " + as.pplEval() + " vs svd " + s.pplEval());
            assertTrue(as.kl() < s.kl(), "budget " + budget + ": asvd KL " + as.kl() + " vs svd " + s.kl());
            p.put("alpha_grid", "11");
            LowRankEval.Run g = LowRankEval.run(in, asvd, p);
            LowRankEval.Score gs = LowRankEval.score(in.model(), g.derived(in));
            LowRankEval.print("asvd grid", setting + " alpha sum " + String.format(java.util.Locale.ROOT, "%.1f", g.stats().get("alpha_sum")), gs);
            assertTrue(gs.pplEval() < s.pplEval() && gs.kl() < s.kl(), "budget " + budget + ": asvd alpha_grid 11 " + gs.pplEval() + " vs svd " + s.pplEval());
        }
    }

    @Test
    void sequentialAsvdHandsEachBlockTheFactorizedOutputsAndStillBeatsSvd(@TempDir Path tmp) throws Exception {
        LowRankEval.Stored in = LowRankEval.Stored.stories260K(tmp.resolve("blobs"));
        LowRankEval.shared("text/tinystories/train_head.txt");
        Map<String, String> p = new LinkedHashMap<>(CALIBRATION);
        p.put("budget", "0.75");
        p.put("calib_mode", "sequential");
        LowRankEval.Run seq = LowRankEval.run(in, new AsvdTechnique(LowRankEval.texts(tmp)), p);
        assertFalse(seq.activations().isEmpty(), "the last block stored its outputs");
        assertEquals(35.0, seq.stats().get("factorized_tensors"));
        double asvd = LowRankEval.pplEval(checkedRuntimeModel(in, seq, "asvd sequential", 1e-4));
        double svd = LowRankEval.pplEval(LowRankEval.run(in, new SvdTechnique(), Map.of("budget", "0.75")).derived(in));
        System.out.printf(java.util.Locale.ROOT, "sequential asvd a=0.5 budget 0.75: ppl eval_sample %.4f (svd %.4f)%n", asvd, svd);
        assertTrue(asvd < svd, "sequential asvd " + asvd + " vs svd " + svd);
    }

    @Test
    void lorcImprovesOnPlainQuantizationOfTheSameType(@TempDir Path tmp) throws Exception {
        LowRankEval.Stored in = LowRankEval.Stored.stories260K(tmp.resolve("blobs"));
        for (String type : new String[]{"Q4_0"}) { // I4_ASYM_CH: LowRankTechniqueTest, LorcTest
            LowRankEval.Run lorc = LowRankEval.run(in, new LorcTechnique(), Map.of("type", type, "budget", "0.1"));
            Map<String, Tensor> quantized = new LinkedHashMap<>();
            lorc.tensors().forEach((n, t) -> {
                if (!LowRankPairs.isFactor(n)) quantized.put(n, t);
            });
            assertEquals(35, quantized.size());
            assertTrue(lorc.removed().isEmpty(), "LoRC keeps the weights");
            LlamaModel lorcModel = checkedRuntimeModel(in, lorc, "lorc " + type, 1e-3);
            assertTrue(lorcModel.tensors().containsKey(TensorNames.attnQ(0)) && lorcModel.tensors().containsKey(TensorNames.loraA(TensorNames.attnQ(0))));
            LowRankEval.Score q = LowRankEval.score(in.model(), in.model().withTensors(quantized)), l = LowRankEval.score(in.model(), lorcModel);
            LowRankEval.print("rtn", type + " (ffn_down I4_ASYM_CH)", q);
            LowRankEval.print("lorc", type + " + budget 0.1 F16 factors", l);
            assertTrue(l.pplEval() < q.pplEval(), type + ": lorc " + l.pplEval() + " vs rtn " + q.pplEval());
            assertTrue(l.kl() < q.kl(), type + ": lorc KL " + l.kl() + " vs rtn " + q.kl());
            assertTrue(lorc.stats().get("compensated_error") < lorc.stats().get("quant_error"));
        }
    }
}
