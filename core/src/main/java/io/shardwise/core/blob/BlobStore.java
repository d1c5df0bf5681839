package io.shardwise.core.blob;

import java.io.IOException;
import java.io.InputStream;
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

    boolean exists(String digest);

    /** Maps a blob read-only; the segment lives as long as the store's shared arena. */
    MemorySegment map(String digest) throws IOException;

    byte[] get(String digest) throws IOException;

    InputStream open(String digest) throws IOException;

    long size(String digest) throws IOException;

    /** A local path to the blob, when the store keeps blobs as files. */
    Optional<Path> localPath(String digest);
}
