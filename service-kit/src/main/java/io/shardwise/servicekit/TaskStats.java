package io.shardwise.servicekit;

import jakarta.enterprise.context.ApplicationScoped;

import java.util.concurrent.atomic.AtomicLong;

/** What this instance did with the tasks it received (for logs, health and tests). */
@ApplicationScoped
public class TaskStats {
    public final AtomicLong computed = new AtomicLong();
    /** Redelivered tasks answered from their receipt, not recomputed. */
    public final AtomicLong replayed = new AtomicLong();
    public final AtomicLong failedAttempts = new AtomicLong();
    public final AtomicLong deadLettered = new AtomicLong();
    public final AtomicLong skippedCancelled = new AtomicLong();
}
