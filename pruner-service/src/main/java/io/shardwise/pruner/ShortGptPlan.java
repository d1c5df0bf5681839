package io.shardwise.pruner;

import io.shardwise.core.blob.BlobStore;
import io.shardwise.core.calib.CalibrationSet;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.work.ShardInput;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * A ShortGPT stage's decision as its plan shard stores it (text: a header, then one line per block: index, block
 * influence, 1 if removed else 0), so every shard of the job drops the same blocks. Made by {@link #measure}: the
 * calibration windows run through the whole input model once ({@link ShortGpt#blockInfluence}).
 */
record ShortGptPlan(double[] influence, int[] removed) {
    private static final String HEADER = "shardwise shortgpt plan v1";

    ShortGptPlan {
        removed = removed.clone();
        Arrays.sort(removed);
    }

    boolean removes(int block) {
        return Arrays.binarySearch(removed, block) >= 0;
    }

    /** Block influence of every block of the shard's input model on the calibration windows, and the {@code count} lowest. */
    static ShortGptPlan measure(ShardInput in, CalibrationSpec spec, Path text, int count) throws IOException {
        LlamaModel model = in.store().load(in.inputDigest(), in.arena());
        int[][] windows = CalibrationSet.load(spec, text, Tokenizers.forVocabulary(model.vocabulary()));
        in.progress().report(0.1, "shortgpt: block influence on " + windows.length + " windows");
        double[] bi = ShortGpt.blockInfluence(model, windows);
        return new ShortGptPlan(bi, ShortGpt.lowest(bi, count));
    }

    String store(BlobStore blobs) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int l = 0; l < influence.length; l++) b.append(String.format(Locale.ROOT, "%d %.17g %d%n", l, influence[l], removes(l) ? 1 : 0));
        return PlanBlobText.store(blobs, HEADER, b);
    }

    /** Reads plan blob {@code digest}; a missing or malformed blob throws naming it. */
    static ShortGptPlan load(BlobStore blobs, String digest) {
        String[] lines = PlanBlobText.lines(blobs, digest, HEADER, "a shortgpt plan");
        double[] bi = new double[lines.length - 1];
        int[] marks = new int[bi.length];
        int removed = 0;
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].trim().split(" ");
            try {
                if (f.length != 3 || Integer.parseInt(f[0]) != i - 1 || !(f[2].equals("0") || f[2].equals("1"))) throw new NumberFormatException();
                bi[i - 1] = Double.parseDouble(f[1]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("plan blob " + digest + ": line " + (i + 1) + " is malformed");
            }
            if (f[2].equals("1")) marks[removed++] = i - 1;
        }
        return new ShortGptPlan(bi, Arrays.copyOf(marks, removed));
    }
}
