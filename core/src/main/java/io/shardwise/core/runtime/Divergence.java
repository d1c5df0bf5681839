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

    public static Divergence of(LlamaModel reference, LlamaModel compressed, String text, int maxTokens, int ctx) {
        if (ctx < 2) throw new IllegalArgumentException("ctx must be >= 2 (BOS + one token), got " + ctx);
        if (reference.config().vocabSize() != compressed.config().vocabSize()) {
            throw new IllegalArgumentException("vocabularies differ: " + reference.config().vocabSize() + " vs " + compressed.config().vocabSize());
        }
        TextTokenizer tok = Tokenizers.forVocabulary(reference.vocabulary());
        int[] all = tok.encode(text);
        int n = Math.min(all.length, maxTokens), vocab = reference.config().vocabSize();
        if (n == 0) throw new IllegalArgumentException("the text has no tokens to compare on");
        LlamaRuntime a = new LlamaRuntime(reference), b = new LlamaRuntime(compressed);
        float[] lp = new float[vocab], lq = new float[vocab];
        double kl = 0;
        long agree = 0, count = 0;
        for (int off = 0; off < n; off += ctx - 1) {
            int len = Math.min(ctx - 1, n - off);
            int[] w = new int[len + 1];
            w[0] = tok.bos();
            System.arraycopy(all, off, w, 1, len);
            LlamaRuntime.Logits x = a.newSession(w.length).forward(w, 0, w.length);
            LlamaRuntime.Logits y = b.newSession(w.length).forward(w, 0, w.length);
            for (int r = 0; r < w.length; r++) {
                x.logSoftmax(r, lp);
                y.logSoftmax(r, lq);
                double s = 0;
                for (int v = 0; v < vocab; v++) s += Math.exp(lp[v]) * (lp[v] - lq[v]);
                kl += s;
                if (x.argmax(r) == y.argmax(r)) agree++;
                count++;
            }
        }
        return new Divergence(kl / count, (double) agree / count, count);
    }
}
