package io.shardwise.core.calib;

import io.shardwise.core.tokenizer.TextTokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * Calibration samples as GPTQ's data loaders make them: the text is encoded once and {@code samples} windows are
 * drawn from it with a seeded generator, here without overlap (each window is distinct text) and each starting
 * with BOS, as the pinned perplexity protocol feeds chunks.
 */
public final class CalibrationSet {
    /** Text read from a file at most: plenty for thousands of windows, bounded for huge corpora. */
    static final int MAX_TEXT_BYTES = 64 << 20;

    private CalibrationSet() {
    }

    /** The windows of {@code spec} from a text file; throws naming the dataset when it is too short. */
    public static int[][] load(CalibrationSpec spec, Path text, TextTokenizer tokenizer) throws IOException {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(text)) {
            bytes = in.readNBytes(MAX_TEXT_BYTES);
        }
        return windows(spec, tokenizer.encode(bytes), tokenizer.bos());
    }

    /** {@code spec.samples()} windows of BOS + seqLen-1 tokens from distinct slots of {@code tokens}, chosen by the seed. */
    public static int[][] windows(CalibrationSpec spec, int[] tokens, int bos) {
        int body = spec.seqLen() - 1;
        int slots = tokens.length / body;
        if (slots < spec.samples()) {
            throw new IllegalArgumentException(CalibrationSpec.DATASET + ": '" + spec.dataset() + "' has " + tokens.length
                    + " tokens, fewer than " + CalibrationSpec.SAMPLES + " x (" + CalibrationSpec.SEQ_LEN + " - 1) = "
                    + spec.samples() + " x " + body + " = " + spec.tokensNeeded());
        }
        // a seeded partial Fisher-Yates over the slots: distinct, reproducible, spread over the whole text
        int[] order = new int[slots];
        for (int i = 0; i < slots; i++) order[i] = i;
        Random rnd = new Random(spec.seed());
        int[][] out = new int[spec.samples()][];
        for (int s = 0; s < spec.samples(); s++) {
            int j = s + rnd.nextInt(slots - s);
            int tmp = order[s];
            order[s] = order[j];
            order[j] = tmp;
            int[] w = new int[spec.seqLen()];
            w[0] = bos;
            System.arraycopy(tokens, order[s] * body, w, 1, body);
            out[s] = w;
        }
        return out;
    }
}
