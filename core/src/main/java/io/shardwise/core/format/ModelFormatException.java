package io.shardwise.core.format;

import java.io.IOException;

/** A model or tokenizer file that cannot be read; the message names the file and the field at fault. */
public class ModelFormatException extends IOException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
