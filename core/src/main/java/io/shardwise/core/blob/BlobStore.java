package io.shardwise.core.blob;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Content-addressed, immutable blob storage (sha256, lower-case hex). Writing the same bytes twice
 * yields the same digest and stores one copy, which makes task retries idempotent.
 */
public interface BlobStore {

    String put(byte[] bytes) throws IOException;

    /** Stores a file's bytes (streamed, never held in the heap whole). */
    String putFile(Path file) throws IOException;

    /** A blob written piece by piece (hashed as it goes), which appears under its digest only on {@link BlobWriter#commit()}. */
    BlobWriter writer() throws IOException;

    boolean exists(String digest);

    /**
     * Maps a blob read-only for as long as {@code arena} is open; closing the arena unmaps it, so a task
     * that maps its shard in its own arena gives the pages back when it ends.
     */
    MemorySegment map(String digest, Arena arena) throws IOException;

    /** Maps a blob read-only for the store's lifetime (one mapping per blob, reused). Prefer {@link #map(String, Arena)}. */
    MemorySegment map(String digest) throws IOException;

    byte[] get(String digest) throws IOException;

    InputStream open(String digest) throws IOException;

    long size(String digest) throws IOException;

    /** Re-reads a blob and throws {@link CorruptBlobException} unless its bytes still hash to its name. */
    void verify(String digest) throws IOException;

    /** A local path to the blob, when the store keeps blobs as files. */
    Optional<Path> localPath(String digest);
}
