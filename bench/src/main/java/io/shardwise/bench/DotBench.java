package io.shardwise.bench;

import io.shardwise.core.quant.F16Codec;
import io.shardwise.core.runtime.Activation;
import io.shardwise.core.runtime.RowKernels;
import io.shardwise.core.runtime.ScalarRowKernels;
import io.shardwise.core.runtime.VectorRowKernels;
import io.shardwise.core.tensor.GgmlType;
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
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Dot-product throughput: one op is {@link RowKernels#matvec} of a {@code rows x n} weight (off-heap, as a mapped
 * model is) with one prepared activation. Every thread runs the whole matvec over the one shared weight.
 * Values per op = rows x n (bench/run.sh turns ops/s into cycles per 32 values).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class DotBench {

    @State(Scope.Benchmark)
    public static class Weight {
        /** Any of F32, F16, BF16 too (-p type=F16). */
        @Param({"Q8_0", "Q4_0", "Q4_K", "Q6_K"})
        public String type;
        @Param({"4096"})
        public int n;
        @Param({"4096"})
        public int rows;
        /** vector (the Vector API kernels) or scalar (the twin). */
        @Param({"vector"})
        public String kernels;

        GgmlType t;
        MemorySegment w;
        RowKernels k;

        @Setup(Level.Trial)
        public void setUp() {
            t = GgmlType.valueOf(type);
            k = "scalar".equals(kernels) ? ScalarRowKernels.INSTANCE : VectorRowKernels.INSTANCE;
            long bytes = t.byteSize(new long[]{n, rows});
            w = Arena.ofShared().allocate(bytes, 64);
            SplittableRandom rnd = new SplittableRandom(42);
            if (!t.isQuantized()) {
                // float rows: values in (-1, 1) encoded as the type stores them (random bytes would hold NaNs and subnormals)
                var f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
                var i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
                for (long i = 0; i < (long) n * rows; i++) {
                    float v = (float) (rnd.nextDouble() * 2 - 1);
                    switch (t) {
                        case F32 -> w.set(f32, 4 * i, v);
                        case F16 -> w.set(i16, 2 * i, F16Codec.floatToHalf(v));
                        default -> w.set(i16, 2 * i, (short) (Float.floatToRawIntBits(v) >>> 16));
                    }
                }
                return;
            }
            // random blocks with small fp16 scales (no codec needed, fast to set up): a dot's speed does not depend on the values
            for (long i = 0; i < bytes; i++) w.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
            var i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            for (long b = 0; b < bytes / t.blockBytes; b++) {
                long o = b * t.blockBytes;
                long[] scales = t == GgmlType.Q6_K ? new long[]{o + 208} : t == GgmlType.Q4_K ? new long[]{o, o + 2} : new long[]{o};
                for (long at : scales) w.set(i16, at, F16Codec.floatToHalf((float) (0.001 + rnd.nextDouble() * 0.01)));
            }
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
            for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextDouble() * 2 - 1);
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
