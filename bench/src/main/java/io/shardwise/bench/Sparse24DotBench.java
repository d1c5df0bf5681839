package io.shardwise.bench;

import io.shardwise.core.runtime.Activation;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.RowKernels;
import io.shardwise.core.runtime.ScalarRowKernels;
import io.shardwise.core.runtime.Sparse24Rows;
import io.shardwise.core.runtime.VectorRowKernels;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodecs;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The 2:4 sparse matvec against the dense one on the same 2:4-pruned weight (an MLP matrix of the 1B shape by
 * default): one op is {@code rows x n} dense values (bench/run.sh's cycles per 32 values count dense values, so the two
 * compare directly; its GB/s column assumes dense bytes).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class Sparse24DotBench {

    @State(Scope.Benchmark)
    public static class Weight {
        @Param({"F16", "F32"})
        public String type;
        @Param({"2048"})
        public int n;
        @Param({"8192"})
        public int rows;
        /** vector (the Vector API kernels) or scalar (the twin). */
        @Param({"vector"})
        public String kernels;

        GgmlType t;
        MemorySegment w;
        Sparse24Rows packed;
        RowKernels k;

        @Setup(Level.Trial)
        public void setUp() {
            t = GgmlType.valueOf(type);
            k = "scalar".equals(kernels) ? ScalarRowKernels.INSTANCE : VectorRowKernels.INSTANCE;
            SplittableRandom rnd = new SplittableRandom(42);
            float[] v = new float[n * rows];
            for (int g = 0; g < v.length / 4; g++) {
                int a = rnd.nextInt(4), b = (a + 1 + rnd.nextInt(3)) % 4;
                v[4 * g + a] = (float) (rnd.nextGaussian() * 0.05);
                v[4 * g + b] = (float) (rnd.nextGaussian() * 0.05);
            }
            MemorySegment heap = TensorCodecs.quantize("w", new long[]{n, rows}, v, t).data();
            w = Arena.ofShared().allocate(heap.byteSize(), 64);
            w.copyFrom(heap);
            packed = Sparse24Rows.pack(new Linear("w", t, w, n, rows));
        }
    }

    @State(Scope.Thread)
    public static class Input {
        Activation a = new Activation();
        float[] y;

        @Setup(Level.Trial)
        public void setUp(Weight wt) {
            SplittableRandom rnd = new SplittableRandom(Thread.currentThread().threadId());
            float[] x = new float[wt.n];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            wt.k.prepare(wt.t, x, 0, wt.n, a);
            y = new float[wt.rows];
        }
    }

    @Benchmark
    public float[] dense(Weight wt, Input in) {
        wt.k.matvec(wt.t, wt.w, wt.n, 0, wt.rows, in.a, in.y, 0);
        return in.y;
    }

    @Benchmark
    public float[] sparse24(Weight wt, Input in) {
        wt.k.matvecSparse(wt.packed, 0, wt.rows, in.a, in.y, 0);
        return in.y;
    }
}
