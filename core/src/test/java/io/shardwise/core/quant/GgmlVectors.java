package io.shardwise.core.quant;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Reads ggml's reference vectors from {@code <shared>/data/ggml-vectors}; skips the calling test when they are absent. */
final class GgmlVectors {
    private GgmlVectors() {
    }

    static Path dir() {
        String shared = System.getProperty("shardwise.shared", "../shared");
        Path d = Path.of(shared, "data", "ggml-vectors");
        if (!Files.isRegularFile(d.resolve("manifest.tsv"))) {
            String why = "skipped: ggml test vectors not found at " + d.toAbsolutePath();
            System.out.println(why);
            Assumptions.abort(why);
        }
        return d;
    }

    static byte[] bytes(String file) throws IOException {
        return Files.readAllBytes(dir().resolve(file));
    }

    static float[] floats(String file) throws IOException {
        byte[] b = bytes(file);
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    /** manifest.tsv's lines as columns (file, type, set, kind, rows, n_per_row, bytes); empty when the vectors are absent. */
    static List<String[]> manifest() throws IOException {
        Path m = Path.of(System.getProperty("shardwise.shared", "../shared"), "data", "ggml-vectors", "manifest.tsv");
        if (!Files.isRegularFile(m)) return List.of();
        return Files.readAllLines(m).stream().filter(l -> !l.isBlank()).map(l -> l.split("\t")).toList();
    }
}
