package io.shardwise.core.runtime;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;

/**
 * Splits a range of independent items (output rows of a linear layer, attention heads) into at most
 * {@link #threads()} contiguous pieces and runs them at once: piece 0 on the calling thread, the others on
 * a fixed pool of daemon threads shared by every runtime with the same thread count. Each item is computed
 * by the same code whichever piece holds it, so results do not depend on the thread count.
 * System property {@code shardwise.threads} sets the default count (else all available processors).
 */
public final class ParallelRows {
    private static final Map<Integer, ParallelRows> SHARED = new ConcurrentHashMap<>();

    private final int threads;
    private final ForkJoinPool pool;

    /** A body run over items [from, to) as piece {@code piece} (0 <= piece < threads), for piece-local scratch. */
    @FunctionalInterface
    public interface Body {
        void run(int piece, int from, int to);
    }

    private ParallelRows(int threads) {
        this.threads = threads;
        this.pool = threads == 1 ? null : new ForkJoinPool(threads - 1, p -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("shardwise-rows-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    /** The shared splitter for {@code threads} threads (1 runs everything on the caller). */
    public static ParallelRows of(int threads) {
        if (threads < 1) throw new IllegalArgumentException("thread count must be at least 1, got " + threads);
        return SHARED.computeIfAbsent(threads, ParallelRows::new);
    }

    /** The splitter for {@link #defaultThreads()}. */
    public static ParallelRows preferred() {
        return of(defaultThreads());
    }

    /** {@code -Dshardwise.threads=N}, else the number of available processors. */
    public static int defaultThreads() {
        String p = System.getProperty("shardwise.threads");
        if (p == null || p.isBlank()) return Runtime.getRuntime().availableProcessors();
        try {
            int n = Integer.parseInt(p.trim());
            if (n >= 1) return n;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("system property shardwise.threads must be a positive integer, got '" + p + "'");
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} over [0, n) cut into pieces of at least {@code minItems} items (boundaries on multiples
     * of {@code align}), at most one piece per thread; returns when all pieces are done.
     */
    public void run(int n, int minItems, int align, Body body) {
        if (n <= 0) return;
        int pieces = Math.max(1, Math.min(threads, n / Math.max(1, minItems)));
        if (pieces == 1) {
            body.run(0, 0, n);
            return;
        }
        int[] bounds = new int[pieces + 1];
        for (int p = 1; p < pieces; p++) {
            long cut = (long) n * p / pieces;
            bounds[p] = (int) Math.min(n, (cut + align / 2) / align * align);
        }
        bounds[pieces] = n;
        @SuppressWarnings("unchecked")
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[pieces];
        for (int p = 1; p < pieces; p++) {
            int piece = p, from = bounds[p], to = bounds[p + 1];
            tasks[p] = pool.submit(() -> body.run(piece, from, to));
        }
        Throwable failure = null;
        try {
            body.run(0, bounds[0], bounds[1]);
        } catch (Throwable t) {
            failure = t;
        }
        for (int p = 1; p < pieces; p++) {
            try {
                tasks[p].join();
            } catch (Throwable t) {
                if (failure == null) failure = t;
            }
        }
        if (failure instanceof RuntimeException re) throw re;
        if (failure instanceof Error e) throw e;
        if (failure != null) throw new IllegalStateException(failure);
    }
}
