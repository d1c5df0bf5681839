package io.shardwise.core.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.model.Vocabulary;
import io.shardwise.core.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Next-token pre-training of a Llama from scratch on a token stream, seeded and deterministic:
 * GPT-2 style init (normal 0.02, residual projections scaled by 1/sqrt(2 n_layers)), AdamW with
 * linear warmup and cosine decay to a tenth, batches of random windows fed after BOS, as the
 * perplexity protocol feeds its chunks.
 */
public final class LlamaPretraining {

    public record Settings(int steps, int batch, double lr, int warmup, double weightDecay, long seed) {
        public Settings {
            if (steps < 1 || batch < 1 || lr <= 0 || warmup < 0 || weightDecay < 0) throw new IllegalArgumentException("bad pre-training settings: " + this);
        }
    }

    /** The trained model, the first step's loss and the mean loss of the last tenth of the steps (nats/token). */
    public record Result(LlamaModel model, double firstLoss, double lastLoss) {
    }

    private LlamaPretraining() {
    }

    public static Result train(LlamaConfig c, Vocabulary vocab, int[] tokens, Settings s, Consumer<String> progress) {
        if (tokens.length < c.seqLen()) throw new IllegalArgumentException("training text has " + tokens.length + " tokens, fewer than seq_len " + c.seqLen());
        TorchThreads.configure();
        SplittableRandom rng = new SplittableRandom(s.seed());
        LlamaModel init = initialModel(c, vocab, rng.split());
        int t = c.seqLen();
        double first = Double.NaN, tail = 0;
        int tailSteps = Math.max(1, s.steps() / 10);
        long start = System.nanoTime();
        try (NDManager base = NDManager.newBaseManager(); DjlLlama model = DjlLlama.of(init, base, true);
             AdamW opt = new AdamW(model, 0.9, 0.95, 1e-8, s.weightDecay())) {
            for (int step = 0; step < s.steps(); step++) {
                int[] in = new int[s.batch() * t], tg = new int[s.batch() * t];
                for (int b = 0; b < s.batch(); b++) {
                    int off = rng.nextInt(tokens.length - t + 1);
                    in[b * t] = vocab.bos();
                    System.arraycopy(tokens, off, in, b * t + 1, t - 1);
                    System.arraycopy(tokens, off, tg, b * t, t);
                }
                float loss;
                try (NDManager sm = base.newSubManager()) {
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray l = model.meanNll(sm.create(in, new Shape(s.batch(), t)), sm.create(tg, new Shape(s.batch(), t)));
                        gc.backward(l);
                        loss = l.getFloat();
                    }
                    opt.step(learningRate(s, step));
                }
                if (step == 0) first = loss;
                if (step >= s.steps() - tailSteps) tail += loss / tailSteps;
                if (step % Math.max(1, s.steps() / 10) == 0 || step == s.steps() - 1) {
                    progress.accept(String.format("step %d/%d loss %.3f (%.0f s)", step + 1, s.steps(), loss, (System.nanoTime() - start) / 1e9));
                }
            }
            return new Result(model.toModel(init), first, tail);
        }
    }

    static double learningRate(Settings s, int step) {
        if (step < s.warmup()) return s.lr() * (step + 1) / s.warmup();
        double progress = (double) (step - s.warmup()) / Math.max(1, s.steps() - s.warmup());
        return s.lr() * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
    }

    /** Random weights: matrices normal(0, 0.02) (residual outputs smaller), norms one, classifier tied when the config says so. */
    public static LlamaModel initialModel(LlamaConfig c, Vocabulary vocab, SplittableRandom r) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        double std = 0.02, resid = 0.02 / Math.sqrt(2.0 * c.nLayers());
        normal(t, TensorNames.TOKEN_EMBD, c.dim(), c.vocabSize(), std, r);
        for (int l = 0; l < c.nLayers(); l++) {
            ones(t, TensorNames.attnNorm(l), c.dim());
            normal(t, TensorNames.attnQ(l), c.dim(), c.qDim(), std, r);
            normal(t, TensorNames.attnK(l), c.dim(), c.kvDim(), std, r);
            normal(t, TensorNames.attnV(l), c.dim(), c.kvDim(), std, r);
            normal(t, TensorNames.attnOutput(l), c.qDim(), c.dim(), resid, r);
            ones(t, TensorNames.ffnNorm(l), c.dim());
            normal(t, TensorNames.ffnGate(l), c.dim(), c.hiddenDim(), std, r);
            normal(t, TensorNames.ffnDown(l), c.hiddenDim(), c.dim(), resid, r);
            normal(t, TensorNames.ffnUp(l), c.dim(), c.hiddenDim(), std, r);
        }
        ones(t, TensorNames.OUTPUT_NORM, c.dim());
        if (!c.tiedEmbeddings()) normal(t, TensorNames.OUTPUT, c.dim(), c.vocabSize(), std, r);
        return new LlamaModel(c, vocab, t);
    }

    /** ggml shape {in, out}: {@code out} rows of {@code in}. */
    private static void normal(Map<String, Tensor> t, String name, int in, int out, double std, SplittableRandom r) {
        float[] v = new float[in * out];
        for (int i = 0; i < v.length; i++) {
            double u = r.nextDouble(), w = r.nextDouble();
            v[i] = (float) (std * Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * w));
        }
        t.put(name, Tensor.ofFloats(name, new long[]{in, out}, v));
    }

    private static void ones(Map<String, Tensor> t, String name, int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1f);
        t.put(name, Tensor.ofFloats(name, new long[]{n}, v));
    }
}
