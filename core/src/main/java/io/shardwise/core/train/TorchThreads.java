package io.shardwise.core.train;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Sets libtorch's intra-op thread count on each thread that trains, unless {@code ai.djl.pytorch.num_threads} was
 * given: {@code shardwise.torch.threads}, default 1. Small models gain little from more threads, and on a shared
 * machine busy OpenMP workers waiting for each other made a step up to 4x slower. Per thread, because OpenMP's
 * thread count is a per-thread setting: a service runs tasks on pooled threads, and one set only on the first of them
 * left the others at libtorch's default (runs of one task then differed from run to run).
 */
public final class TorchThreads {
    private static final ThreadLocal<Boolean> DONE = ThreadLocal.withInitial(() -> false);

    private TorchThreads() {
    }

    public static void configure() {
        if (DONE.get()) return;
        Engine.getEngine("PyTorch");
        if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
            JniUtils.setNumThreads(Integer.getInteger("shardwise.torch.threads", 1));
        }
        DONE.set(true);
    }
}
