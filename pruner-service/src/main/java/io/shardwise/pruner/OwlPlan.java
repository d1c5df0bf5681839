package io.shardwise.pruner;

import io.shardwise.core.blob.BlobStore;
import io.shardwise.core.calib.CalibrationSet;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.work.ShardInput;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A stage's per-layer sparsities as its plan shard stores them (text: a header, then one line per layer:
 * index, sparsity, outlier ratio). Made by {@link #measure}: the calibration windows run through the whole input
 * model once, every block matrix's Wanda scores give its layer's outlier ratio, {@link Owl} the sparsities.
 */
record OwlPlan(double[] sparsity, double[] outlierRatio) {
    private static final String HEADER = "shardwise owl plan v1";

    static OwlPlan uniform(int layers, double s) {
        double[] sp = new double[layers];
        java.util.Arrays.fill(sp, s);
        return new OwlPlan(sp, new double[layers]);
    }

    /** Outlier ratios of every layer of the shard's input model on the calibration windows, and OWL's sparsities. */
    static OwlPlan measure(ShardInput in, CalibrationSpec spec, Path text, PruneSettings s) throws IOException {
        LlamaModel model = in.store().load(in.inputDigest(), in.arena());
        int[][] windows = CalibrationSet.load(spec, text, Tokenizers.forVocabulary(model.vocabulary()));
        int L = model.config().nLayers(), T = spec.seqLen();
        Map<String, InputNorms> norms = new ConcurrentHashMap<>();
        Map<String, String> inputOf = new ConcurrentHashMap<>();
        LlamaRuntime rt = new LlamaRuntime(model);
        for (int w = 0; w < windows.length; w++) {
            LlamaRuntime.Session session = rt.newSession(T);
            float[] h = session.embed(windows[w], 0, T);
            session.reset();
            session.observe((Linear[] ws, float[] x, int off, int n, int width) -> {
                if (ws.length == 0) return;
                norms.computeIfAbsent(ws[0].name(), k -> new InputNorms(width)).add(x, off, n, width);
                for (Linear l : ws) inputOf.put(l.name(), ws[0].name());
            });
            session.layers(h, T, 0, L);
            in.progress().report(0.8 * (w + 1) / windows.length, "owl: calibrating window " + (w + 1) + "/" + windows.length);
        }
        double[] ratio = new double[L];
        for (int l = 0; l < L; l++) {
            Owl.Ratio r = new Owl.Ratio();
            for (int pass = 0; pass < 2; pass++) {
                if (pass == 1) r.mean(s.owlM());
                for (String name : TensorNames.blockMatrices(l)) {
                    var t = model.tensor(name);
                    String key = inputOf.get(name);
                    if (key == null) throw new IllegalStateException("owl: no calibration input reached " + name);
                    double[] sq = norms.get(key).sumSquares();
                    if (pass == 0) r.addToMean(t.toFloats(), t.rows(), t.cols(), sq);
                    else r.countOutliers(t.toFloats(), t.rows(), t.cols(), sq);
                }
            }
            ratio[l] = r.ratio();
        }
        return new OwlPlan(Owl.sparsities(ratio, s.sparsity(), s.owlLambda()), ratio);
    }

    String store(BlobStore blobs) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int l = 0; l < sparsity.length; l++) b.append(String.format(Locale.ROOT, "%d %.17g %.17g%n", l, sparsity[l], outlierRatio[l]));
        return PlanBlobText.store(blobs, HEADER, b);
    }

    /** Reads plan blob {@code digest}; a missing or malformed blob throws naming it. */
    static OwlPlan load(BlobStore blobs, String digest) {
        String[] lines = PlanBlobText.lines(blobs, digest, HEADER, "an owl plan");
        double[] sp = new double[lines.length - 1], ratio = new double[lines.length - 1];
        for (int i = 1; i < lines.length; i++) {
            String[] f = lines[i].trim().split(" ");
            if (f.length != 3 || Integer.parseInt(f[0]) != i - 1) throw new IllegalArgumentException("plan blob " + digest + ": line " + (i + 1) + " is malformed");
            sp[i - 1] = Double.parseDouble(f[1]);
            ratio[i - 1] = Double.parseDouble(f[2]);
        }
        return new OwlPlan(sp, ratio);
    }
}
