package io.shardwise.bench;

import io.shardwise.core.calib.Hessian;
import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.pruner.MagnitudePruning;
import io.shardwise.pruner.SparseGPT;
import io.shardwise.pruner.Wanda;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Seconds per layer of Wanda and SparseGPT on a synthetic matrix (a timed CLI, not JMH: one op takes seconds):
 * seeded Gaussian weights, calibration activations of low rank + noise + a few loud channels, streamed in chunks into
 * the input norms (Wanda) and the Hessian (SparseGPT); then Wanda's prune and SparseGPT's solve (Cholesky of the damped
 * inverse included) at 50% unstructured, 2:4, and 50% jointly quantized to int4, per thread count. Wall and process
 * CPU seconds (CPU stays meaningful when other work shares the cores).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar io.shardwise.bench.PruneBench \
 *     [--rows 4096] [--cols 4096] [--tokens 4096] [--threads 1,2] [--seed 7]
 * </pre>
 */
public final class PruneBench {
    private PruneBench() {
    }

    record Time(double wall, double cpu) {
        static Time since(long wall0, long cpu0) {
            return new Time((System.nanoTime() - wall0) / 1e9, (cpuNanos() - cpu0) / 1e9);
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%8.2f s wall / %8.2f s cpu", wall, cpu);
        }
    }

    public static void main(String[] args) {
        int rows = 4096, cols = 4096, tokens = 4096;
        long seed = 7;
        int[] threads = {1, 2};
        for (int i = 0; i < args.length; i += 2) {
            String v = i + 1 < args.length ? args[i + 1] : "";
            switch (args[i]) {
                case "--rows" -> rows = Integer.parseInt(v);
                case "--cols" -> cols = Integer.parseInt(v);
                case "--tokens" -> tokens = Integer.parseInt(v);
                case "--seed" -> seed = Long.parseLong(v);
                case "--threads" -> threads = java.util.Arrays.stream(v.split(",")).mapToInt(Integer::parseInt).toArray();
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--rows --cols --tokens --threads --seed)");
            }
        }
        System.out.printf(Locale.ROOT, "PruneBench: %d x %d (out x in), %d calibration tokens, %d cores, %s%n", rows, cols, tokens,
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));
        float[] w = gaussian(rows * cols, 0.02, seed);
        for (int t : threads) {
            double[] sq = new double[cols];
            Hessian h = new Hessian(cols, t, true);
            int chunk = 256;
            double normWall = 0, normCpu = 0, hWall = 0, hCpu = 0;
            for (int off = 0; off < tokens; off += chunk) { // generating the activations is not timed
                int T = Math.min(chunk, tokens - off);
                float[] x = activations(T, cols, seed + off);
                long w0 = System.nanoTime(), c0 = cpuNanos();
                for (int r = 0; r < T; r++) for (int j = 0; j < cols; j++) sq[j] += (double) x[r * cols + j] * x[r * cols + j];
                Time n = Time.since(w0, c0);
                w0 = System.nanoTime();
                c0 = cpuNanos();
                h.add(x, 0, T, cols);
                Time ht = Time.since(w0, c0);
                normWall += n.wall();
                normCpu += n.cpu();
                hWall += ht.wall();
                hCpu += ht.cpu();
            }
            double[] hm = h.matrix();
            System.out.printf(Locale.ROOT, "| threads %d | wanda input norms, %d tokens | %s |%n", t, tokens, new Time(normWall, normCpu));
            System.out.printf(Locale.ROOT, "| threads %d | sparsegpt Hessian, %d tokens | %s |%n", t, tokens, new Time(hWall, hCpu));
            long w0 = System.nanoTime(), c0 = cpuNanos();
            Hessian.upperCholeskyOfInverse("bench", hm, cols, 0.01, 0); // EJML, one thread: part of every SparseGPT call below
            System.out.printf(Locale.ROOT, "| threads %d | sparsegpt Cholesky of the damped H^-1 alone | %s |%n", t, Time.since(w0, c0));
            for (MagnitudePruning.Pattern p : new MagnitudePruning.Pattern[]{new MagnitudePruning.Unstructured(0.5), new MagnitudePruning.NOfM(2, 4)}) {
                float[] a = w.clone();
                w0 = System.nanoTime();
                c0 = cpuNanos();
                Wanda.prune(a, rows, cols, sq, p);
                System.out.printf(Locale.ROOT, "| threads %d | wanda %-12s | %s |%n", t, name(p), Time.since(w0, c0));
            }
            for (MagnitudePruning.Pattern p : new MagnitudePruning.Pattern[]{new MagnitudePruning.Unstructured(0.5), new MagnitudePruning.NOfM(2, 4)}) {
                for (ChannelIntType q : new ChannelIntType[]{null, ChannelIntType.I4_ASYM_CH}) {
                    if (q != null && p instanceof MagnitudePruning.NOfM) continue;
                    w0 = System.nanoTime();
                    c0 = cpuNanos();
                    SparseGPT.Result r = SparseGPT.prune("bench", rows, cols, w, hm, p, new SparseGPT.Options(0.01, 128, q, t));
                    Time total = Time.since(w0, c0);
                    System.out.printf(Locale.ROOT, "| threads %d | sparsegpt %-12s%s | %s | zeros %.4f |%n", t, name(p),
                            q == null ? "" : " + int4", total, (double) r.zeros() / w.length);
                }
            }
        }
    }

    private static String name(MagnitudePruning.Pattern p) {
        return p instanceof MagnitudePruning.Unstructured u ? Math.round(u.sparsity() * 100) + "%" : p.toString();
    }

    static float[] gaussian(int n, double sigma, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * sigma);
        return v;
    }

    /** T tokens: 32 latent directions + noise, every 97th channel 20x louder (the outlier features LLMs show). */
    static float[] activations(int T, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 31 + 1);
        int k = 32;
        float[] basis = gaussian(k * n, 1, 12345);
        float[] x = new float[T * n];
        float[] z = new float[k];
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < k; i++) z[i] = (float) r.nextGaussian();
            for (int j = 0; j < n; j++) {
                float s = (float) (0.3 * r.nextGaussian());
                for (int i = 0; i < k; i++) s += z[i] * basis[i * n + j] / 6f;
                x[t * n + j] = j % 97 == 0 ? 20 * s : s;
            }
        }
        return x;
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }
}
