package io.shardwise.pruner;

import io.shardwise.core.blob.BlobStore;
import io.shardwise.core.calib.CalibrationSet;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.work.ShardInput;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * An attention_heads stage's first-order group scores as its plan shard stores them (text: a header, then one line per
 * layer: index and each kv group's score), so every block shard ranks its groups on the same whole-model gradients.
 */
record HeadImportancePlan(double[][] scores) {
    private static final String HEADER = "shardwise attention-head importance plan v1";

    static HeadImportancePlan measure(ShardInput in, CalibrationSpec spec, Path text) throws IOException {
        LlamaModel model = in.store().load(in.inputDigest(), in.arena());
        int[][] windows = CalibrationSet.load(spec, text, Tokenizers.forVocabulary(model.vocabulary()));
        in.progress().report(0.1, "attention_heads: first-order importance on " + windows.length + " windows");
        return new HeadImportancePlan(FirstOrderHeadImportance.scores(model, windows));
    }

    String store(BlobStore blobs) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int l = 0; l < scores.length; l++) {
            b.append(l);
            for (double v : scores[l]) b.append(String.format(Locale.ROOT, " %.17g", v));
            b.append('\n');
        }
        return PlanBlobText.store(blobs, HEADER, b);
    }

    /** Reads plan blob {@code digest}; a missing or malformed blob throws naming it. */
    static HeadImportancePlan load(BlobStore blobs, String digest) {
        String[] lines = PlanBlobText.lines(blobs, digest, HEADER, "an attention-head importance plan");
        double[][] s = new double[lines.length - 1][];
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].trim().split(" ");
            try {
                if (f.length < 2 || Integer.parseInt(f[0]) != i - 1) throw new NumberFormatException();
                s[i - 1] = new double[f.length - 1];
                for (int j = 1; j < f.length; j++) s[i - 1][j - 1] = Double.parseDouble(f[j]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("plan blob " + digest + ": line " + (i + 1) + " is malformed");
            }
        }
        return new HeadImportancePlan(s);
    }
}
