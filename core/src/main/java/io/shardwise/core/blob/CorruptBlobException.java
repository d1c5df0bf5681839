package io.shardwise.core.blob;

import java.io.IOException;

/** A stored blob whose bytes no longer match its name (sha256) or its recorded size; the message names the blob. */
public class CorruptBlobException extends IOException {
    public CorruptBlobException(String message) {
        super(message);
    }
}
