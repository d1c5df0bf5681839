package io.shardwise.distiller;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.train.AdamW;
import io.shardwise.core.train.DjlLlama;
import io.shardwise.core.train.TorchThreads;
import io.shardwise.core.work.ShardInput;

import java.util.Map;
import java.util.SplittableRandom;

/**
 * Logit distillation: Hinton, Vinyals &amp; Dean 2015, "Distilling the Knowledge in a Neural Network"
 * (arXiv:1503.02531), section 2: the student matches the teacher's softened distribution with loss
 * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) per token (forward KL; the T^2 keeps gradient sizes
 * independent of T). The student is trained with AdamW on random token windows fed after BOS, as
 * the perplexity protocol feeds its chunks; weights that are exactly zero in the student (pruned)
 * stay exactly zero. Seeded and deterministic.
 */
public final class LogitDistillation {

    public record Settings(int steps, double lr, double temperature, int seqLen, int batch, long seed) {
        public Settings {
            if (steps < 1) throw new IllegalArgumentException("distill.steps must be >= 1, got " + steps);
            if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("distill.lr must be > 0, got " + lr);
            if (!(temperature > 0) || Double.isInfinite(temperature)) throw new IllegalArgumentException("distill.temperature must be > 0, got " + temperature);
            if (seqLen < 2) throw new IllegalArgumentException("distill.seq_len must be >= 2, got " + seqLen);
            if (batch < 1) throw new IllegalArgumentException("distill.batch must be >= 1, got " + batch);
        }
    }

    /**
     * @param tensors   every student tensor after training, F32, GGUF names and shapes as given
     * @param firstLoss the distillation loss of the first batch (before any update)
     * @param lastLoss  the loss of the last batch
     * @param tailLoss  the mean loss of the last tenth of the steps
     * @param zerosKept exact zeros of the student's weights, all still zero
     * @param seqLen    window length used (the requested one, capped at the model's seq_len)
     */
    public record Result(Map<String, Tensor> tensors, double firstLoss, double lastLoss, double tailLoss,
                         long zerosKept, int seqLen) {
    }

    private LogitDistillation() {
    }

    public static Result distill(LlamaModel student, LlamaModel teacher, int[] tokens, Settings s, ShardInput.Progress progress) {
        LlamaConfig c = student.config();
        if (teacher.config().vocabSize() != c.vocabSize()) {
            throw new IllegalArgumentException("teacher vocabulary has " + teacher.config().vocabSize() + " tokens, student " + c.vocabSize() + ": logits cannot be matched");
        }
        int t = Math.min(s.seqLen(), Math.min(c.seqLen(), teacher.config().seqLen()));
        if (tokens.length < t) throw new IllegalArgumentException("distillation text has " + tokens.length + " tokens, fewer than seq_len " + t);
        TorchThreads.configure();
        SplittableRandom rng = new SplittableRandom(s.seed());
        float temp = (float) s.temperature(), scale = temp * temp;
        int tail = Math.max(1, s.steps() / 10);
        double first = Double.NaN, last = Double.NaN, tailSum = 0;
        try (NDManager base = NDManager.newBaseManager();
             DjlLlama st = DjlLlama.of(student, base, true);
             DjlLlama te = DjlLlama.of(teacher, base, false);
             AdamW opt = new AdamW(st, 0.9, 0.95, 1e-8, 0.0)) {
            long zeros = zeroCount(st);
            int every = Math.max(1, s.steps() / 20);
            for (int step = 0; step < s.steps(); step++) {
                int[] in = new int[s.batch() * t];
                for (int b = 0; b < s.batch(); b++) {
                    int off = rng.nextInt(tokens.length - t + 2);
                    in[b * t] = student.vocabulary().bos();
                    System.arraycopy(tokens, off, in, b * t + 1, t - 1);
                }
                float loss;
                try (NDManager sm = base.newSubManager()) {
                    NDArray inputs = sm.create(in, new Shape(s.batch(), t));
                    NDArray logPt = te.logits(inputs).div(temp).logSoftmax(-1);
                    NDArray pt = logPt.exp();
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray logPs = st.logits(inputs).div(temp).logSoftmax(-1);
                        NDArray kl = pt.mul(logPt.sub(logPs)).sum().div((long) s.batch() * t).mul(scale);
                        gc.backward(kl);
                        loss = kl.getFloat();
                    }
                    opt.step(s.lr());
                }
                if (!Float.isFinite(loss)) {
                    throw new IllegalStateException("kd: the loss is " + loss + " at step " + (step + 1) + " of " + s.steps() + " (distill.lr " + s.lr() + ")");
                }
                if (step == 0) first = loss;
                last = loss;
                if (step >= s.steps() - tail) tailSum += loss;
                if (step % every == 0 || step == s.steps() - 1) {
                    progress.report((step + 1.0) / s.steps(), String.format("kd step %d/%d loss %.4f", step + 1, s.steps(), loss));
                }
            }
            long kept = zeroCount(st);
            if (kept < zeros) {
                throw new IllegalStateException("kd: distillation moved pruned weights: " + kept + " of " + zeros + " zeros left (non-finite values: " + nonFinite(st) + ")");
            }
            return new Result(st.export(), first, last, tailSum / tail, zeros, t);
        }
    }

    private static long nonFinite(DjlLlama m) {
        long n = 0;
        for (var p : m.parameters().values()) for (float v : p.toFloatArray()) if (!Float.isFinite(v)) n++;
        return n;
    }

    private static long zeroCount(DjlLlama m) {
        long n = 0;
        for (String name : m.maskedParameters()) {
            for (float v : m.parameters().get(name).toFloatArray()) if (v == 0f) n++;
        }
        return n;
    }
}
