package io.shardwise.gateway;

import io.grpc.Status;
import io.shardwise.core.calib.CalibrationMode;
import io.shardwise.core.calib.CalibrationSpec;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tokenizer.TextTokenizer;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.TextDatasets;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Submit-time check of a calibrated stage's text: the dataset must be known and hold at least
 * {@link CalibrationSpec#tokensNeeded()} tokens under the model's own tokenizer (the rule of
 * {@code CalibrationSet.windows}). Reads only a growing prefix of the file, never more than the services read
 * (64 MiB). Demo names are checked only when the demo model is already cached: the gateway never trains it.
 */
final class CalibrationCheck {
    /** What a service reads of a calibration file at most (CalibrationSet.MAX_TEXT_BYTES). */
    static final long MAX_TEXT_BYTES = 64L << 20;

    private final Optional<Path> dataDir;
    private final ModelRoots roots;
    private final Path demoCache;

    CalibrationCheck(Optional<Path> dataDir, ModelRoots roots, Path demoCache) {
        this.dataDir = dataDir;
        this.roots = roots;
        this.demoCache = demoCache;
    }

    /**
     * @param at        the stage's field prefix, e.g. {@code recipe_yaml: stages[0].quantize}
     * @param effective the stage's parameters over the technique's defaults
     */
    void check(String at, Map<String, String> effective, LlamaModel model) throws JobRejected {
        String field = at + "." + CalibrationSpec.DATASET;
        CalibrationSpec spec;
        try {
            spec = CalibrationSpec.fromParams(effective, CalibrationMode.INDEPENDENT);
        } catch (IllegalArgumentException e) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, at + "." + e.getMessage());
        }
        Optional<Path> text = resolve(field, spec.dataset());
        if (text.isEmpty()) return;
        long tokens;
        try {
            tokens = countTokens(text.get(), Tokenizers.forVocabulary(model.vocabulary()), spec.tokensNeeded());
        } catch (IOException e) {
            throw new JobRejected(Status.Code.FAILED_PRECONDITION, field + ": reading " + text.get() + " failed: " + e.getMessage());
        } catch (RuntimeException e) {
            // a vocabulary without byte fallback cannot encode every text: the services could not either
            throw new JobRejected(Status.Code.FAILED_PRECONDITION, field + ": the model's tokenizer cannot encode '" + spec.dataset() + "': " + e);
        }
        if (tokens < spec.tokensNeeded()) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": '" + spec.dataset() + "' has " + tokens
                    + " tokens with this model's tokenizer, fewer than " + CalibrationSpec.SAMPLES + " x (" + CalibrationSpec.SEQ_LEN
                    + " - 1) = " + spec.samples() + " x " + (spec.seqLen() - 1) + " = " + spec.tokensNeeded()
                    + "; give a longer text or fewer or shorter windows");
        }
    }

    /** The file a dataset stands for; empty when the gateway cannot see it (no data dir, demo model not cached yet). */
    private Optional<Path> resolve(String field, String dataset) throws JobRejected {
        if (dataset.startsWith("file:") || dataset.startsWith("/")) return Optional.of(roots.resolve(dataset, field));
        String rel = TextDatasets.BUILT_IN.get(dataset);
        if (rel != null) {
            if (dataDir.isEmpty()) return Optional.empty(); // the services have the data dir; the gateway was not told it
            Path p = dataDir.get().resolve(rel);
            if (!Files.isRegularFile(p)) {
                throw new JobRejected(Status.Code.FAILED_PRECONDITION, field + ": dataset '" + dataset + "' is not at " + p + " (shardwise.data-dir)");
            }
            return Optional.of(p);
        }
        if (TextDatasets.DEMO_NAMES.contains(dataset)) {
            try {
                return DemoModel.cached(demoCache).map(d -> dataset.equals("demo") ? d.evalText() : d.trainText());
            } catch (IOException e) {
                return Optional.empty(); // the service makes (or fails to make) it: its error names the field too
            }
        }
        TreeSet<String> known = new TreeSet<>(TextDatasets.BUILT_IN.keySet());
        known.addAll(TextDatasets.DEMO_NAMES);
        throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": unknown dataset '" + dataset + "' (known: "
                + String.join(", ", known) + ", or a file: URI under the model roots)");
    }

    /** Tokens of the file's first 64 MiB, or at least {@code needed} of them from a prefix (read in growing pieces). */
    static long countTokens(Path file, TextTokenizer tokenizer, long needed) throws IOException {
        long size = Math.min(Files.size(file), MAX_TEXT_BYTES);
        long want = Math.min(size, Math.max(1 << 16, needed * 8));
        while (true) {
            byte[] bytes;
            try (InputStream in = Files.newInputStream(file)) {
                bytes = in.readNBytes((int) want);
            }
            int n = tokenizer.encode(bytes).length;
            if (n >= needed || want >= size) return n;
            want = Math.min(size, want * 4);
        }
    }
}
