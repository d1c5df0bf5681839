package io.shardwise.core.runtime;

import io.shardwise.core.tensor.TensorType;

import java.lang.foreign.MemorySegment;

/** Row kernels (work in progress). */
public final class VectorRowKernels implements RowKernels {
    public static final VectorRowKernels INSTANCE = new VectorRowKernels();

    private VectorRowKernels() {
    }

    @Override
    public void prepare(TensorType t, float[] x, int off, int n, Activation into) {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public void matvec(TensorType t, MemorySegment w, int n, int r0, int r1, Activation a, float[] y, int yOff) {
        throw new UnsupportedOperationException("not yet");
    }

    @Override
    public void matmul(TensorType t, MemorySegment w, int n, int r0, int r1, Activation[] as, int T, float[] y, int ldy) {
        throw new UnsupportedOperationException("not yet");
    }
}
