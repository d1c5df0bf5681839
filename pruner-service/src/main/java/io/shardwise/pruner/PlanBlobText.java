package io.shardwise.pruner;

import io.shardwise.core.blob.BlobStore;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** The text plan blobs the pruner's plan shards write: a header line naming the plan, then one line per layer. */
final class PlanBlobText {
    private PlanBlobText() {
    }

    /** Stores {@code header} and {@code body} (its lines), returning the blob's digest. */
    static String store(BlobStore blobs, String header, CharSequence body) throws IOException {
        return blobs.put((header + "\n" + body).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The lines of plan blob {@code digest}, header first; a missing, corrupt or foreign blob (another header) throws
     * naming the blob and {@code what} it should have been.
     */
    static String[] lines(BlobStore blobs, String digest, String header, String what) {
        String text;
        try {
            if (!blobs.exists(digest)) throw new IllegalArgumentException("plan blob " + digest + " does not exist");
            blobs.verify(digest);
            text = new String(blobs.get(digest), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("plan blob " + digest + " cannot be read: " + e.getMessage(), e);
        }
        String[] lines = text.strip().split("\n");
        if (!lines[0].equals(header)) throw new IllegalArgumentException("plan blob " + digest + " is not " + what);
        return lines;
    }
}
