package io.shardwise.evaluator;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.shardwise.core.blob.Sha256;
import io.shardwise.core.runtime.KvCacheType;
import io.shardwise.core.runtime.PerplexityResult;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * Scores by model digest in small JSON files ({@code <dir>/<digest>-...json}): manifests are
 * content-addressed, so a digest's scores never change and a second job on the same model reads
 * them instead of recomputing. Perplexity keys also hold the dataset's content hash, the token cap and, for a
 * quantized KV cache, its type and group, so float32 and int8-KV scores of one model never mix.
 * Writes are atomic (temp file + rename), so concurrent instances can share the directory.
 */
public final class ScoreCache {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path dir;

    public ScoreCache(Path dir) throws IOException {
        this.dir = dir.toAbsolutePath();
        Files.createDirectories(this.dir);
    }

    /** The cache beside a blob root: {@code <blob-root>/../scores}. */
    public static ScoreCache besideBlobs(Path blobRoot) throws IOException {
        Path abs = blobRoot.toAbsolutePath().normalize();
        return new ScoreCache(abs.getParent() == null ? abs.resolve("scores") : abs.getParent().resolve("scores"));
    }

    public Path dir() {
        return dir;
    }

    /** The float32-KV score's file (the name scores had before KV-cache types existed, so old entries stay valid). */
    public Path perplexityFile(String digest, String dataset, String datasetSha256, long maxTokens, String protocol) {
        return perplexityFile(digest, dataset, datasetSha256, maxTokens, protocol, KvCacheType.F32, KvCacheType.DEFAULT_GROUP);
    }

    /** A score taken with the KV cache kept as {@code kv}, key channels grouped by {@code kvGroup} tokens. */
    public Path perplexityFile(String digest, String dataset, String datasetSha256, long maxTokens, String protocol,
                               KvCacheType kv, int kvGroup) {
        String safe = dataset.replaceAll("[^A-Za-z0-9._-]", "_");
        if (safe.length() > 40) safe = safe.substring(safe.length() - 40);
        return dir.resolve(Sha256.requireValid(digest) + "-" + safe + "-" + datasetSha256.substring(0, 16) + "-" + maxTokens + "-" + protocol
                + (kv.quantized() ? "-kv" + kv.label() + "g" + kvGroup : "") + ".json");
    }

    public Path sizeFile(String digest) {
        return dir.resolve(Sha256.requireValid(digest) + "-size-v1.json");
    }

    public Optional<PerplexityResult> perplexity(Path file) {
        return read(file, PerplexityResult.class);
    }

    public void putPerplexity(Path file, PerplexityResult r) throws IOException {
        write(file, r);
    }

    public Optional<SizeScores> size(String digest) {
        return read(sizeFile(digest), SizeScores.class);
    }

    public void putSize(String digest, SizeScores s) throws IOException {
        write(sizeFile(digest), s);
    }

    private static <T> Optional<T> read(Path file, Class<T> type) {
        if (!Files.isRegularFile(file)) return Optional.empty();
        try {
            return Optional.of(JSON.readValue(file.toFile(), type));
        } catch (IOException e) {
            return Optional.empty(); // unreadable entry: recompute and overwrite it
        }
    }

    private void write(Path file, Object value) throws IOException {
        Path tmp = Files.createTempFile(dir, "score", ".part");
        JSON.writeValue(tmp.toFile(), value);
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
