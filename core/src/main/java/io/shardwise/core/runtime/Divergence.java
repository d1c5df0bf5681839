package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;

/**
 * How far a compressed model's next-token distributions are from a reference's (the survey's KL and top-1 agreement
 * metrics): mean KL(p_ref || p_q) = sum_v p_ref(v) (log p_ref(v) - log p_q(v)) per position, and the fraction of
 * positions whose argmax agrees, over the first {@code maxTokens} tokens of a text in windows of BOS + (ctx - 1) tokens.
 */
public record Divergence(double kl, double top1, long positions) {

    /** The reference's log-probabilities and argmax per position of one text: quality tests compare many models to one. */
    private record Reference(LlamaModel model, String text, int maxTokens, int ctx, float[][] logProbs, int[] argmax, int[][] windows) {
    }

    /** The last reference computed (held by identity of the model): a sweep scores every variant against the same fp32. */
    private static Reference last;

    public static Divergence of(LlamaModel reference, LlamaModel compressed, String text, int maxTokens, int ctx) {
        if (ctx < 2) throw new IllegalArgumentException("ctx must be >= 2 (BOS + one token), got " + ctx);
        if (reference.config().vocabSize() != compressed.config().vocabSize()) {
            throw new IllegalArgumentException("vocabularies differ: " + reference.config().vocabSize() + " vs " + compressed.config().vocabSize());
        }
        Reference ref = reference(reference, text, maxTokens, ctx);
        int vocab = reference.config().vocabSize();
        LlamaRuntime b = new LlamaRuntime(compressed);
        float[] lq = new float[vocab];
        double kl = 0;
        long agree = 0, count = 0;
        for (int[] w : ref.windows()) {
            LlamaRuntime.Logits y = b.newSession(w.length).forward(w, 0, w.length);
            for (int r = 0; r < w.length; r++, count++) {
                float[] lp = ref.logProbs()[(int) count];
                y.logSoftmax(r, lq);
                double s = 0;
                for (int v = 0; v < vocab; v++) s += Math.exp(lp[v]) * (lp[v] - lq[v]);
                kl += s;
                if (ref.argmax()[(int) count] == y.argmax(r)) agree++;
            }
        }
        return new Divergence(kl / count, (double) agree / count, count);
    }

    private static synchronized Reference reference(LlamaModel model, String text, int maxTokens, int ctx) {
        Reference r = last;
        if (r != null && r.model() == model && r.maxTokens() == maxTokens && r.ctx() == ctx && r.text().equals(text)) return r;
        TextTokenizer tok = Tokenizers.forVocabulary(model.vocabulary());
        int[] all = tok.encode(text);
        int n = Math.min(all.length, maxTokens), vocab = model.config().vocabSize();
        if (n == 0) throw new IllegalArgumentException("the text has no tokens to compare on");
        java.util.List<int[]> windows = new java.util.ArrayList<>();
        for (int off = 0; off < n; off += ctx - 1) {
            int len = Math.min(ctx - 1, n - off);
            int[] w = new int[len + 1];
            w[0] = tok.bos();
            System.arraycopy(all, off, w, 1, len);
            windows.add(w);
        }
        int positions = windows.stream().mapToInt(w -> w.length).sum();
        float[][] lp = new float[positions][];
        int[] argmax = new int[positions];
        LlamaRuntime a = new LlamaRuntime(model);
        int p = 0;
        for (int[] w : windows) {
            LlamaRuntime.Logits x = a.newSession(w.length).forward(w, 0, w.length);
            for (int i = 0; i < w.length; i++, p++) {
                lp[p] = new float[vocab];
                x.logSoftmax(i, lp[p]);
                argmax[p] = x.argmax(i);
            }
        }
        last = new Reference(model, text, maxTokens, ctx, lp, argmax, windows.toArray(int[][]::new));
        return last;
    }
}
