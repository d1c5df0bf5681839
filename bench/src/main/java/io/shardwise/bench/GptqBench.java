package io.shardwise.bench;

import io.shardwise.core.calib.Hessian;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GroupIntType;
import io.shardwise.core.tensor.TensorType;
import io.shardwise.quantizer.Gptq;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Seconds per layer of GPTQ at Llama-7B shapes (a timed CLI, not JMH: one op takes seconds to minutes): the Hessian
 * accumulated over synthetic calibration activations, then the solve ({@link Hessian#upperCholeskyOfInverse} timed on
 * its own, and the whole {@link Gptq#quantize}) for 4-bit groups of 128 and 4-bit per channel, with 1 and 2 threads.
 * Shapes are ggml's {in, out} (ne0 = input width). The Hessian depends on the input width alone, so it is measured once
 * per width and thread count; with fewer calibration tokens than the target it is scaled linearly (its cost is tokens
 * x in^2) and the table says so.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar io.shardwise.bench.GptqBench \
 *     [--shapes 4096x4096,4096x11008,11008x4096] [--threads 1,2] [--target-tokens 262144] \
 *     [--tokens 4096:262144,11008:16384] [--chunk 2048] [--seed 7]
 * </pre>
 */
public final class GptqBench {
    /** ggml convention: {@code in} is ne0 (the row length, the Hessian's width), {@code out} the rows. */
    record Shape(int in, int out) {
        static Shape parse(String s) {
            String[] p = s.trim().split("x");
            if (p.length != 2) throw new IllegalArgumentException("--shapes: '" + s + "' is not INxOUT");
            return new Shape(Integer.parseInt(p[0]), Integer.parseInt(p[1]));
        }

        @Override
        public String toString() {
            return in + "x" + out;
        }
    }

    /**
     * Wall and process CPU seconds of one phase. CPU time (all threads, with GC and JIT) is what stays meaningful when
     * other work shares the cores: with one thread it is about the wall time on an idle core.
     */
    record Time(double wall, double cpu) {
        static Time since(long wall0, long cpu0) {
            return new Time((System.nanoTime() - wall0) / 1e9, (cpuNanos() - cpu0) / 1e9);
        }

        Time plus(Time o) {
            return new Time(wall + o.wall, cpu + o.cpu);
        }

        Time times(double f) {
            return new Time(wall * f, cpu * f);
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%.2f s wall / %.2f s cpu", wall, cpu);
        }
    }

    /** One Hessian measurement: {@code tokens} tokens and the phase's peak heap above what was live before. */
    record HessianTime(long tokens, Time time, Time gen, long peakBytes) {
    }

    /** One solve: the Cholesky-of-the-inverse alone, and the whole quantize call per output type. */
    record SolveTime(Time chol, Time g128, Time channel, long peakBytes) {
    }

    private static final TensorType G128 = new GroupIntType(4, 128, true);
    private static final TensorType CHANNEL = ChannelIntType.I4_ASYM_CH;

    private GptqBench() {
    }

    public static void main(String[] args) {
        Map<String, String> a = new LinkedHashMap<>(Map.of("shapes", "4096x4096,4096x11008,11008x4096", "threads", "1,2",
                "target-tokens", "262144", "tokens", "", "chunk", "2048", "seed", "7", "solve", "true"));
        for (int i = 0; i < args.length; i++) {
            String k = args[i].replaceFirst("^--", "");
            if (!a.containsKey(k) || i + 1 >= args.length) throw new IllegalArgumentException("unknown option or missing value: " + args[i] + " (options: " + a.keySet() + ")");
            a.put(k, args[++i]);
        }
        List<Shape> shapes = new ArrayList<>();
        for (String s : a.get("shapes").split(",")) shapes.add(Shape.parse(s));
        List<Integer> threads = new ArrayList<>();
        for (String s : a.get("threads").split(",")) threads.add(Integer.parseInt(s.trim()));
        long target = Long.parseLong(a.get("target-tokens"));
        int chunk = Integer.parseInt(a.get("chunk"));
        long seed = Long.parseLong(a.get("seed"));
        boolean solve = Boolean.parseBoolean(a.get("solve"));
        Map<Integer, Long> tokens = new LinkedHashMap<>();
        if (!a.get("tokens").isBlank()) {
            for (String s : a.get("tokens").split(",")) {
                String[] p = s.split(":");
                tokens.put(Integer.parseInt(p[0].trim()), Long.parseLong(p[1].trim()));
            }
        }
        System.out.printf(Locale.ROOT, "GptqBench: %d cores, max heap %d MiB, %s %s; vector species %s; load %s%n",
                Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20,
                System.getProperty("java.vm.name"), System.getProperty("java.version"),
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, loadAverage());
        System.out.printf(Locale.ROOT, "GPTQ options: act-order, damp 0.01, block 128; types %s and %s; calibration chunks of %d tokens%n",
                G128.typeName(), CHANNEL.typeName(), chunk);

        Map<String, HessianTime> hessians = new LinkedHashMap<>();
        Map<String, SolveTime> solves = new LinkedHashMap<>();
        Map<Integer, Time> chols = new LinkedHashMap<>();
        for (int t : threads) {
            Map<Integer, double[]> hByWidth = new LinkedHashMap<>();
            for (Shape s : shapes) {
                double[] h = hByWidth.get(s.in());
                if (h == null) {
                    long n = tokens.getOrDefault(s.in(), target);
                    hByWidth.clear(); // keep one width's Hessian alive at a time
                    long base = baseline();
                    Hessian acc = new Hessian(s.in(), t, true);
                    HessianTime ht = accumulate(acc, n, chunk, seed, base);
                    hessians.put(s.in() + "/" + t, ht);
                    System.out.printf(Locale.ROOT, "  hessian in=%d threads=%d: %d tokens in %s (generating them: %s, not counted), peak +%d MiB, load %s%n",
                            s.in(), t, ht.tokens(), ht.time(), ht.gen(), ht.peakBytes() >> 20, loadAverage());
                    h = acc.matrix();
                    hByWidth.put(s.in(), h);
                }
                if (!solve) continue;
                if (!chols.containsKey(s.in())) { // single-threaded and the same for every shape of this width: once
                    long w0 = System.nanoTime(), c0 = cpuNanos();
                    Hessian.upperCholeskyOfInverse("bench", h, s.in(), 0.01, 0);
                    chols.put(s.in(), Time.since(w0, c0));
                    System.out.printf(Locale.ROOT, "  cholesky of the damped inverse in=%d: %s, load %s%n", s.in(), chols.get(s.in()), loadAverage());
                }
                SolveTime st = solve(s, h, t, seed, chols.get(s.in()));
                solves.put(s + "/" + t, st);
                System.out.printf(Locale.ROOT, "  solve %s threads=%d: %s %s; %s %s; peak +%d MiB, load %s%n",
                        s, t, G128.typeName(), st.g128(), CHANNEL.typeName(), st.channel(), st.peakBytes() >> 20, loadAverage());
            }
        }
        table(shapes, threads, target, hessians, solves);
    }

    /** Streams {@code n} synthetic tokens through the accumulator in chunks; times only the adds and the final matrix. */
    static HessianTime accumulate(Hessian acc, long n, int chunk, long seed, long base) {
        Activations gen = new Activations(acc.width(), seed);
        float[] x = new float[Math.multiplyExact(chunk, acc.width())];
        Time hessian = new Time(0, 0), generating = new Time(0, 0);
        for (long done = 0; done < n; done += chunk) {
            int T = (int) Math.min(chunk, n - done);
            long w0 = System.nanoTime(), c0 = cpuNanos();
            gen.fill(x, T);
            generating = generating.plus(Time.since(w0, c0));
            w0 = System.nanoTime();
            c0 = cpuNanos();
            acc.add(x, 0, T, acc.width());
            hessian = hessian.plus(Time.since(w0, c0));
        }
        return new HessianTime(n, hessian, generating, peakAbove(base));
    }

    static SolveTime solve(Shape s, double[] h, int threads, long seed, Time chol) {
        float[] w = weights(s, seed);
        long base = baseline();
        long w0, c0;
        Gptq.Options o = new Gptq.Options(true, false, 0.01, 128, threads);
        Time[] took = new Time[2];
        TensorType[] types = {G128, CHANNEL};
        for (int i = 0; i < 2; i++) {
            try (Arena arena = Arena.ofConfined()) {
                w0 = System.nanoTime();
                c0 = cpuNanos();
                Gptq.quantize("bench." + s, s.out(), s.in(), w, h, types[i], o, arena);
                took[i] = Time.since(w0, c0);
            }
        }
        return new SolveTime(chol, took[0], took[1], peakAbove(base));
    }

    /** Out x in weights, row-major, Gaussian with a per-row scale (some rows larger, as in trained layers). */
    static float[] weights(Shape s, long seed) {
        SplittableRandom r = new SplittableRandom(seed ^ 0x5eed);
        float[] w = new float[Math.multiplyExact(s.out(), s.in())];
        for (int row = 0; row < s.out(); row++) {
            double scale = 0.02 * Math.exp(0.3 * r.nextGaussian());
            for (int c = 0; c < s.in(); c++) w[row * s.in() + c] = (float) (r.nextGaussian() * scale);
        }
        return w;
    }

    /**
     * Activation-like tokens: a rank-{@value #RANK} mix of Gaussian latents (correlated channels), per-channel
     * log-normal scales, noise, and {@value #OUTLIERS} outlier channels about 20x larger (as in LLM residual streams).
     */
    static final class Activations {
        static final int RANK = 16, OUTLIERS = 8;
        private final int n;
        private final float[] mix, noiseScale;
        private final SplittableRandom r;
        private final float[] z = new float[RANK];

        Activations(int n, long seed) {
            this.n = n;
            this.r = new SplittableRandom(seed);
            mix = new float[RANK * n];
            noiseScale = new float[n];
            float[] channel = new float[n];
            for (int j = 0; j < n; j++) channel[j] = (float) Math.exp(0.5 * r.nextGaussian());
            for (int k = 0; k < OUTLIERS; k++) channel[r.nextInt(n)] *= 20;
            for (int k = 0; k < RANK; k++) for (int j = 0; j < n; j++) mix[k * n + j] = (float) (r.nextGaussian() * channel[j] / Math.sqrt(RANK));
            for (int j = 0; j < n; j++) noiseScale[j] = 0.3f * channel[j];
        }

        /** T tokens into x[0 .. T * n). */
        void fill(float[] x, int T) {
            for (int t = 0; t < T; t++) {
                int o = t * n;
                for (int k = 0; k < RANK; k++) z[k] = (float) r.nextGaussian();
                long bits = r.nextLong();
                for (int j = 0; j < n; j++) {
                    if ((j & 3) == 0) bits = r.nextLong();
                    // a cheap bell-shaped noise: the sum of two 8-bit uniforms, centred, unit-ish variance
                    int u = (int) (bits >>> ((j & 3) * 16));
                    x[o + j] = ((u & 0xFF) + ((u >>> 8) & 0xFF) - 255) * (1f / 104) * noiseScale[j];
                }
                for (int k = 0; k < RANK; k++) {
                    float zk = z[k];
                    int m = k * n;
                    for (int j = 0; j < n; j++) x[o + j] = Math.fma(zk, mix[m + j], x[o + j]);
                }
            }
        }
    }

    private static void table(List<Shape> shapes, List<Integer> threads, long target,
                              Map<String, HessianTime> hessians, Map<String, SolveTime> solves) {
        System.out.println();
        System.out.printf(Locale.ROOT, "Seconds per layer as wall/cpu (target %d calibration tokens; '*' = Hessian measured on fewer tokens, scaled linearly)%n", target);
        String head = "%-11s %3s %9s %15s %15s %13s %13s %15s %7s %7s%n";
        System.out.printf(Locale.ROOT, head, "in x out", "thr", "H tokens", "H measured", "H @target", "chol inverse", "solve g128", "solve per-chan", "H MiB", "solve MiB");
        for (int t : threads) {
            for (Shape s : shapes) {
                HessianTime h = hessians.get(s.in() + "/" + t);
                SolveTime st = solves.getOrDefault(s + "/" + t, new SolveTime(new Time(0, 0), new Time(0, 0), new Time(0, 0), 0));
                if (h == null) continue;
                Time atTarget = h.time().times((double) target / h.tokens());
                System.out.printf(Locale.ROOT, head, s, t, h.tokens(), pair(h.time()), pair(atTarget) + (h.tokens() == target ? " " : "*"),
                        pair(st.chol()), pair(st.g128()), pair(st.channel()), h.peakBytes() >> 20, st.peakBytes() >> 20);
            }
        }
        System.out.println("H: the Hessian accumulation (once per input width: shapes of one width share it). chol inverse: the Cholesky of the damped");
        System.out.println("inverse alone, once per width (single-threaded EJML; it is also inside each solve). solve: the whole Gptq.quantize (permute, inverse,");
        System.out.println("lazy-batch column loop on the threads, pack). A layer = H @target + solve. cpu: process CPU seconds (all threads, GC, JIT).");
        System.out.println("MiB: peak heap in use during the phase above the live heap before it (pools summed, uncollected garbage included).");
    }

    private static String pair(Time t) {
        return String.format(Locale.ROOT, "%.1f/%.1f", t.wall(), t.cpu());
    }

    private static long baseline() {
        System.gc();
        long used = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() != MemoryType.HEAP) continue;
            p.resetPeakUsage();
            used += p.getUsage().getUsed();
        }
        return used;
    }

    private static long peakAbove(long base) {
        long peak = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) peak += p.getPeakUsage().getUsed();
        return Math.max(0, peak - base);
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    private static String loadAverage() {
        return String.format(Locale.ROOT, "%.2f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
    }
}
