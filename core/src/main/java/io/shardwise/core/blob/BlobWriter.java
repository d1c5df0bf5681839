package io.shardwise.core.blob;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A blob being written: bytes are appended (and hashed) in order, then {@link #commit()} publishes them
 * under their digest in one atomic step. Closing without committing discards everything written.
 */
public interface BlobWriter extends AutoCloseable {

    /** Appends the segment's bytes (heap or native or mapped), in bounded pieces; pages of a mapped segment are released from the process as they are copied. */
    void write(MemorySegment bytes) throws IOException;

    default void write(byte[] bytes, int offset, int length) throws IOException {
        write(MemorySegment.ofArray(bytes).asSlice(offset, length));
    }

    /** Appends {@code n} zero bytes (alignment padding). */
    void zeros(long n) throws IOException;

    /** Bytes written so far: the offset the next write lands at. */
    long position();

    /** Publishes the blob and returns its digest; the writer is closed afterwards. */
    String commit() throws IOException;

    @Override
    void close() throws IOException;
}
