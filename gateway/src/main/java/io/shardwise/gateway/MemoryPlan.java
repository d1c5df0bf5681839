package io.shardwise.gateway;

/**
 * The pre-flight memory plan of one shard task: a per-shard technique holds the shard's input and
 * output (2x its bytes); a whole-model technique (logit distillation) holds teacher, student,
 * gradients and two Adam moments (5x); both add a calibration margin for activations and batches.
 */
public record MemoryPlan(long shardBytes, boolean wholeModel, long calibrationMargin) {

    public long peakBytes() {
        return shardBytes * (wholeModel ? 5 : 2) + calibrationMargin;
    }

    /** Whether a service declaring {@code memoryBytes} (0 = undeclared, not checked) can run it. */
    public boolean fits(long memoryBytes) {
        return memoryBytes <= 0 || peakBytes() <= memoryBytes;
    }

    public static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
