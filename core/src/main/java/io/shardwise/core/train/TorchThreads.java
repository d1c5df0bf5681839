package io.shardwise.core.train;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Sets libtorch's intra-op thread count once per JVM, unless {@code ai.djl.pytorch.num_threads} was given:
 * {@code shardwise.torch.threads}, default 1. Small models gain little from more threads, and on a
 * shared machine busy OpenMP workers waiting for each other made a step up to 4x slower.
 */
public final class TorchThreads {
    private static boolean done;

    private TorchThreads() {
    }

    public static synchronized void configure() {
        if (done) return;
        Engine.getEngine("PyTorch");
        if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
            JniUtils.setNumThreads(Integer.getInteger("shardwise.torch.threads", 1));
        }
        done = true;
    }
}
