package io.shardwise.bench;

import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorCodec;
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

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Quantize throughput through {@link TensorCodecs}: one op quantizes {@code rows x n} float32 values (1 MiB of input
 * by default, L2-sized). GB/s of f32 input = ops/s x 4 x rows x n / 1e9 (bench/run.sh converts it, and to cycles per 32 values).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class QuantizeBench {
    @Param({"Q8_0", "Q4_0", "Q4_K"})
    public String type;
    @Param({"4096"})
    public int n;
    @Param({"64"})
    public int rows;

    private TensorCodec codec;
    private float[] src;
    private MemorySegment dst;

    @Setup(Level.Trial)
    public void setUp() {
        GgmlType t = GgmlType.valueOf(type);
        if (!TensorCodecs.supports(t)) {
            throw new IllegalStateException("SKIPPED: no codec registered for " + type + " yet (TensorCodecs.supports is false)");
        }
        codec = TensorCodecs.codec(t);
        SplittableRandom rnd = new SplittableRandom(42);
        src = new float[n * rows];
        for (int i = 0; i < src.length; i++) src[i] = (float) ((rnd.nextDouble() * 2 - 1) * 0.05);
        dst = MemorySegment.ofArray(new byte[Math.toIntExact(t.byteSize(new long[]{n, rows}))]);
    }

    @Benchmark
    public MemorySegment quantize() {
        codec.quantize(src, 0, src.length, n, dst, 0);
        return dst;
    }
}
