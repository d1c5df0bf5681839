package io.shardwise.bench;

import io.shardwise.core.runtime.Activation;
import io.shardwise.core.runtime.RowKernels;
import io.shardwise.core.runtime.ScalarRowKernels;
import io.shardwise.core.runtime.VectorRowKernels;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;
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
 * The int8 x int8 row dot of W8A8 (I8_SYM_CH) and LLM.int8() (I8_F16X<k>) against the F32 and Q8_0 dots: one op is
 * {@link RowKernels#matvec} of a {@code rows x n} weight (off-heap) with one prepared activation, as in {@link DotBench}.
 * Weights are gaussian rows quantized by each type's codec. Values per op = rows x n (bench/run.sh prints cycles per
 * 32 values).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class Int8DotBench {

    @State(Scope.Benchmark)
    public static class Weight {
        @Param({"I8_SYM_CH", "I8_F16X8", "Q8_0", "F32"})
        public String type;
        @Param({"4096"})
        public int n;
        @Param({"1024"})
        public int rows;
        /** vector (the Vector API kernels) or scalar (the twin). */
        @Param({"vector"})
        public String kernels;

        TensorType t;
        MemorySegment w;
        RowKernels k;

        @Setup(Level.Trial)
        public void setUp() {
            t = TensorType.parse(type);
            k = "scalar".equals(kernels) ? ScalarRowKernels.INSTANCE : VectorRowKernels.INSTANCE;
            SplittableRandom rnd = new SplittableRandom(42);
            float[] v = new float[n * rows];
            for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextGaussian() * 0.05);
            MemorySegment heap = TensorCodecs.quantize("w", new long[]{n, rows}, v, t).data();
            w = Arena.ofShared().allocate(heap.byteSize(), 64);
            w.copyFrom(heap);
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
    public float[] matvec(Weight wt, Input in) {
        wt.k.matvec(wt.t, wt.w, wt.n, 0, wt.rows, in.a, in.y, 0);
        return in.y;
    }
}
