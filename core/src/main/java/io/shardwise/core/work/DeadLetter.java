package io.shardwise.core.work;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where and how a message that cannot be processed is parked: its original bytes go to
 * {@code <source topic>.dlq}, with the error, the attempts made and the source position in headers.
 */
public record DeadLetter(String sourceTopic, int partition, long offset, String error, int attempts) {
    public static final String ERROR_HEADER = "shardwise-error";
    public static final String ATTEMPTS_HEADER = "shardwise-attempts";
    public static final String SOURCE_HEADER = "shardwise-source";

    public String topic() {
        return sourceTopic + ".dlq";
    }

    public Map<String, byte[]> headers() {
        Map<String, byte[]> h = new LinkedHashMap<>();
        h.put(ERROR_HEADER, error.getBytes(StandardCharsets.UTF_8));
        h.put(ATTEMPTS_HEADER, Integer.toString(attempts).getBytes(StandardCharsets.UTF_8));
        h.put(SOURCE_HEADER, (sourceTopic + "-" + partition + "@" + offset).getBytes(StandardCharsets.UTF_8));
        return h;
    }
}
