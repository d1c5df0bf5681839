package io.shardwise.bench;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Kernels;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.runtime.LlamaWeights;
import io.shardwise.core.runtime.ParallelRows;
import io.shardwise.core.runtime.RowKernels;
import io.shardwise.core.synth.SyntheticModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Decode tokens/s of a dense float model against the same weights 2:4-pruned (in every block matrix the two largest
 * |w| of each aligned group of 4 kept; embedding and tied classifier untouched, as pruning methods leave them), the
 * pruned model run on the 2:4 kernels (packed at load) and, as a control, on the dense kernels. Greedy decode of
 * {@code steps} tokens after a 4-token prompt, the three models in lockstep, the first {@value #WARM} tokens untimed.
 * The control is the fairer baseline: its block matrices sit in anonymous memory as the packed ones do, while the dense
 * model's are pages of the mapped file. The model is the synthetic one of
 * bench/decode.sh (same file name, written once). Run by bench/sparse-decode.sh:
 * <pre>SparseDecodeBench [shape] [F16|F32|BF16] [steps] [rounds]</pre>
 */
public final class SparseDecodeBench {
    private static final int WARM = 4;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private SparseDecodeBench() {
    }

    public static void main(String[] args) throws Exception {
        String shape = args.length > 0 ? args[0] : "llama-3.2-1b";
        GgmlType type = GgmlType.valueOf(args.length > 1 ? args[1].toUpperCase(Locale.ROOT) : "F16");
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 28;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        if (type != GgmlType.F32 && type != GgmlType.F16 && type != GgmlType.BF16) throw new IllegalArgumentException("type must be F32, F16 or BF16, got " + type);
        Path dir = Path.of(System.getenv().getOrDefault("BENCH_DIR", System.getProperty("user.home") + "/.cache/shardwise/bench"));
        Files.createDirectories(dir);
        Path file = dir.resolve(shape + "-" + type + ".gguf");
        if (!Files.exists(file)) {
            System.out.println("writing " + file);
            new SyntheticModel(SyntheticModel.Shape.parse(shape).config, 1).writeGguf(file, type, shape);
        }
        try (Arena arena = Arena.ofShared()) {
            LlamaModel dense = GgufLlama.read(file, arena);
            long t0 = System.nanoTime();
            LlamaModel pruned = pruned24(dense, arena);
            long t1 = System.nanoTime();
            LlamaWeights denseW = new LlamaWeights(dense);
            LlamaWeights packedW = new LlamaWeights(pruned);
            long t2 = System.nanoTime();
            LlamaWeights prunedDenseW = new LlamaWeights(pruned, false);
            LlamaWeights.SparseStats st = packedW.sparseStats();
            System.out.printf(Locale.ROOT, "%s %s: pruned in %.1f s; packed %d matrices at load in %.1f s: %.0f MB -> %.0f MB (%.1f%%); dense model packs %d%n",
                    shape, type, (t1 - t0) / 1e9, st.matrices(), (t2 - t1) / 1e9, st.denseBytes() / 1e6, st.packedBytes() / 1e6,
                    100.0 * st.packedBytes() / st.denseBytes(), denseW.sparseStats().matrices());
            for (int round = 0; round < rounds; round++) {
                for (int threads : new int[]{1, 2}) {
                    Speed[] r = tokensPerSecond(new LlamaWeights[]{denseW, packedW, prunedDenseW}, threads, steps);
                    Speed d = r[0], s = r[1], c = r[2];
                    System.out.printf(Locale.ROOT, "round %d, %d thread(s), mean (fastest token) tok/s: dense %.2f (%.2f), 2:4 packed %.2f (%.2f), x%.2f (x%.2f); control, 2:4 weights on dense kernels %.2f (%.2f)%n",
                            round, threads, d.mean(), d.best(), s.mean(), s.best(), s.mean() / d.mean(), s.best() / d.best(), c.mean(), c.best());
                }
            }
        }
    }

    /** Greedy decode after a 4-token prompt, timed over the steps after the first {@value #WARM}. */
    record Speed(double mean, double best) {
    }

    /**
     * Tokens/s of each model over the timed steps, and 1 / its fastest step. The models decode in lockstep, one token
     * each in turn, so a change in other load on a shared machine reaches all of them alike; the fastest token is the
     * one least disturbed (as bench/run.sh reads JMH's p0.00).
     */
    static Speed[] tokensPerSecond(LlamaWeights[] ws, int threads, int steps) {
        int n = ws.length;
        LlamaRuntime.Session[] s = new LlamaRuntime.Session[n];
        int[] tok = new int[n];
        long[] total = new long[n], fastest = new long[n];
        java.util.Arrays.fill(fastest, Long.MAX_VALUE);
        for (int m = 0; m < n; m++) {
            s[m] = new LlamaRuntime(ws[m], Kernels.preferred(), RowKernels.preferred(), ParallelRows.of(threads)).newSession(steps + 8);
            tok[m] = s[m].forwardLast(new int[]{1, 45, 33, 29}, 0, 4).argmax(0);
        }
        for (int i = 0; i < steps; i++) {
            for (int m = 0; m < n; m++) {
                long t0 = System.nanoTime();
                tok[m] = s[m].forward(tok[m]).argmax(0);
                long dt = System.nanoTime() - t0;
                if (i < WARM) continue;
                total[m] += dt;
                fastest[m] = Math.min(fastest[m], dt);
            }
        }
        Speed[] out = new Speed[n];
        for (int m = 0; m < n; m++) out[m] = new Speed((steps - WARM) / (total[m] / 1e9), 1e9 / fastest[m]);
        return out;
    }

    /** Block matrices copied off-heap with the two smallest |w| of every aligned group of 4 set to zero (magnitude 2:4). */
    static LlamaModel pruned24(LlamaModel m, Arena arena) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int l = 0; l < m.config().nLayers(); l++) {
            for (String name : TensorNames.blockMatrices(l)) {
                Tensor t = m.tensor(name);
                MemorySegment dst = arena.allocate(t.data().byteSize(), 64);
                MemorySegment.copy(t.data(), 0, dst, 0, dst.byteSize());
                int es = t.type() == GgmlType.F32 ? 4 : 2;
                long groups = dst.byteSize() / (4L * es);
                int[] mag = new int[4];
                for (long g = 0; g < groups; g++) {
                    long at = g * 4 * es;
                    // |w| orders as the bits without the sign, for floats and halfs alike
                    for (int j = 0; j < 4; j++) mag[j] = es == 4 ? dst.get(I32, at + 4L * j) & 0x7fffffff : dst.get(I16, at + 2L * j) & 0x7fff;
                    for (int drop = 0; drop < 2; drop++) {
                        int min = -1;
                        for (int j = 0; j < 4; j++) if (mag[j] >= 0 && (min < 0 || mag[j] < mag[min])) min = j;
                        mag[min] = -1;
                        if (es == 4) dst.set(I32, at + 4L * min, 0);
                        else dst.set(I16, at + 2L * min, (short) 0);
                    }
                }
                out.put(name, new Tensor(name, t.type(), t.shape(), dst));
            }
        }
        return m.withTensors(out);
    }
}
