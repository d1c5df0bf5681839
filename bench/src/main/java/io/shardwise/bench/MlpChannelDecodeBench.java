package io.shardwise.bench;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.LlamaWeights;
import io.shardwise.core.synth.SyntheticModel;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.pruner.MlpChannelPruning;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Decode tokens/s of a dense float model against the same model with a share of every layer's MLP channels removed
 * ({@link MlpChannelPruning}: rows of ffn_gate/ffn_up, columns of ffn_down, hidden_dim lowered). The bench keeps the
 * channels of largest ffn_down column norm (no calibration: which channels go does not change the speed). Both models
 * decode in lockstep as in {@link SparseDecodeBench}. Run by bench/mlp-channel-decode.sh:
 * <pre>MlpChannelDecodeBench [shape] [F16|F32] [ratio] [steps] [rounds]</pre>
 */
public final class MlpChannelDecodeBench {
    private MlpChannelDecodeBench() {
    }

    public static void main(String[] args) throws Exception {
        String shape = args.length > 0 ? args[0] : "llama-3.2-1b";
        GgmlType type = GgmlType.valueOf(args.length > 1 ? args[1].toUpperCase(Locale.ROOT) : "F16");
        double ratio = args.length > 2 ? Double.parseDouble(args[2]) : 0.25;
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 24;
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 2;
        if (type != GgmlType.F32 && type != GgmlType.F16) throw new IllegalArgumentException("type must be F32 or F16, got " + type);
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
            LlamaModel pruned = pruned(dense, ratio, arena);
            System.out.printf(Locale.ROOT, "%s %s: %.0f%% of MLP channels removed in %.1f s: hidden %d -> %d, params %d -> %d (%.1f%%)%n",
                    shape, type, 100 * ratio, (System.nanoTime() - t0) / 1e9, dense.config().hiddenDim(), pruned.config().hiddenDim(),
                    dense.parameterCount(), pruned.parameterCount(), 100.0 * pruned.parameterCount() / dense.parameterCount());
            LlamaWeights dw = new LlamaWeights(dense, false), pw = new LlamaWeights(pruned, false);
            for (int round = 0; round < rounds; round++) {
                for (int threads : new int[]{1, 2}) {
                    SparseDecodeBench.Speed[] r = SparseDecodeBench.tokensPerSecond(new LlamaWeights[]{dw, pw}, threads, steps);
                    System.out.printf(Locale.ROOT, "round %d, %d thread(s), mean (fastest token) tok/s: dense %.2f (%.2f), mlp-channels %.2f (%.2f), x%.2f (x%.2f)%n",
                            round, threads, r[0].mean(), r[0].best(), r[1].mean(), r[1].best(), r[1].mean() / r[0].mean(), r[1].best() / r[0].best());
                }
            }
        }
    }

    /** Every layer's MLP narrowed to the kept channels, off-heap in {@code arena}, the config's hidden_dim lowered. */
    static LlamaModel pruned(LlamaModel m, double ratio, Arena arena) {
        LlamaConfig c = m.config();
        int hid = c.hiddenDim(), dim = c.dim();
        int removed = MlpChannelPruning.removedCount(ratio, hid);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int l = 0; l < c.nLayers(); l++) {
            Tensor down = m.tensor(TensorNames.ffnDown(l));
            float[] w2 = down.toFloats();
            double[] ones = new double[hid];
            java.util.Arrays.fill(ones, 1);
            int[] kept = MlpChannelPruning.keep(MlpChannelPruning.scores(ones, w2, dim, hid), removed);
            for (String n : new String[]{TensorNames.ffnGate(l), TensorNames.ffnUp(l)}) {
                Tensor t = m.tensor(n);
                long rowBytes = t.type().byteSize(new long[]{t.cols()});
                MemorySegment dst = arena.allocate(rowBytes * kept.length, 64);
                for (int i = 0; i < kept.length; i++) MemorySegment.copy(t.data(), kept[i] * rowBytes, dst, i * rowBytes, rowBytes);
                out.put(n, new Tensor(n, t.type(), new long[]{t.cols(), kept.length}, dst));
            }
            Tensor small = TensorCodecs.quantize(down.name(), new long[]{kept.length, dim}, MlpChannelPruning.selectColumns(w2, dim, hid, kept), down.type());
            MemorySegment dst = arena.allocate(small.data().byteSize(), 64);
            MemorySegment.copy(small.data(), 0, dst, 0, dst.byteSize());
            out.put(down.name(), new Tensor(down.name(), down.type(), small.shape(), dst));
        }
        LlamaConfig narrow = c.withHiddenDim(hid - removed);
        return new LlamaModel(narrow, m.vocabulary(), m.withTensors(out).tensors());
    }
}
