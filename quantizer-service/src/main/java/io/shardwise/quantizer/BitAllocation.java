package io.shardwise.quantizer;

import io.shardwise.core.tensor.TensorType;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Mixed-precision bit allocation under a bits-per-weight budget, the rate-distortion allocation behind llama.cpp's
 * {@code --target-bpw} and NVIDIA ModelOpt's AutoQuantize: with the measured per-tensor error
 * E_t(q) = sum_j imp_j * sum_i (w_ij - Q_q(w)_ij)^2 (imp = per-column mean x^2 of the layer's input, the imatrix;
 * 1 without calibration), minimize sum_t E_t(q_t) subject to sum_t bits_t(q_t) <= target_bpw * sum_t n_t.
 * A multiple-choice knapsack, solved two ways and the better kept: dynamic programming over the budget in
 * {@value #DP_UNITS_PER_ITEM} x n units (each option's bits rounded up, so a DP plan always fits; it loses at most
 * 1/{@value #DP_UNITS_PER_ITEM} of the budget), and greedy Lagrangian steps (every tensor starts at its least-error
 * candidate, then the step with the smallest error increase per bit saved on its lower convex hull of (bits, error)
 * is taken until the budget holds). Bits left over then buy the upgrades that lower the error most and still fit.
 */
public final class BitAllocation {

    /** One way to store a tensor: its type, stored bits (block scales included) and measured error. */
    public record Option(TensorType type, long bits, double error) {
    }

    /** A tensor to place: its element count and the options it can take (one option = a fixed type). */
    public record Item(String name, long elements, List<Option> options) {
        public Item {
            if (options.isEmpty()) throw new IllegalArgumentException(name + ": no candidate type fits it");
            options = List.copyOf(options);
        }
    }

    /** The chosen option per tensor (in input order), total bits and elements, total error. */
    public record Plan(Map<String, Option> choice, long bits, long elements, double error) {
        public double bpw() {
            return (double) bits / elements;
        }
    }

    private BitAllocation() {
    }

    /** DP resolution: units of budget per tensor (the DP table is n x DP_UNITS_PER_ITEM x n bytes). */
    static final int DP_UNITS_PER_ITEM = 64;

    public static Plan allocate(List<Item> items, double targetBpw) {
        long elements = items.stream().mapToLong(Item::elements).sum();
        long budget = (long) Math.floor(targetBpw * elements);
        long least = items.stream().mapToLong(i -> i.options().stream().mapToLong(Option::bits).min().orElseThrow()).sum();
        if (least > budget) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "target_bpw: %.4g is below %.4f, the cheapest the candidates"
                    + " can store these tensors in", targetBpw, (double) least / elements));
        }
        List<List<Option>> hulls = items.stream().map(i -> hull(i.options())).toList();
        int[] at = new int[items.size()];
        long bits = 0;
        for (List<Option> h : hulls) bits += h.getFirst().bits();
        // downgrade along the hulls, cheapest error per bit saved first
        PriorityQueue<int[]> steps = new PriorityQueue<>(Comparator.comparingDouble((int[] s) -> slope(hulls.get(s[0]), s[1])).thenComparingInt(s -> s[0]));
        for (int t = 0; t < hulls.size(); t++) if (hulls.get(t).size() > 1) steps.add(new int[]{t, 0});
        while (bits > budget) {
            int[] s = steps.poll(); // never null: the cheapest options fit (checked above) and are the hulls' ends
            int t = s[0];
            List<Option> h = hulls.get(t);
            bits -= h.get(at[t]).bits() - h.get(at[t] + 1).bits();
            at[t]++;
            if (at[t] + 1 < h.size()) steps.add(new int[]{t, at[t]});
        }
        Option[] chosen = new Option[items.size()];
        for (int t = 0; t < chosen.length; t++) chosen[t] = hulls.get(t).get(at[t]);
        Option[] dp = knapsack(items, budget);
        if (dp != null && total(dp, Option::error) < total(chosen, Option::error)) {
            chosen = dp;
            bits = (long) total(dp, o -> o.bits());
        }
        bits = improve(items, chosen, bits, budget);
        Map<String, Option> choice = new LinkedHashMap<>();
        double error = 0;
        for (int t = 0; t < chosen.length; t++) {
            choice.put(items.get(t).name(), chosen[t]);
            error += chosen[t].error();
        }
        return new Plan(choice, bits, elements, error);
    }

    /**
     * Spends the bits left: the upgrade with the largest error decrease per bit that fits, else the pair (upgrade one
     * tensor, downgrade another) that lowers the error most within the budget, until neither exists (the error falls
     * strictly each round, so it ends). Returns the bits used.
     */
    private static long improve(List<Item> items, Option[] chosen, long bits, long budget) {
        for (int round = 0; round < 16 * chosen.length + 16; round++) {
            int bestT = -1, bestU = -1;
            Option best = null, bestDown = null;
            double bestPerBit = 0;
            for (int t = 0; t < chosen.length; t++) {
                for (Option o : items.get(t).options()) {
                    long extra = o.bits() - chosen[t].bits();
                    double gain = chosen[t].error() - o.error();
                    if (gain <= 0 || bits + extra > budget) continue;
                    double perBit = extra <= 0 ? Double.POSITIVE_INFINITY : gain / extra;
                    if (perBit > bestPerBit) {
                        bestPerBit = perBit;
                        bestT = t;
                        best = o;
                    }
                }
            }
            double bestGain = 0;
            Option pairUp = null;
            for (int t = 0; best == null && t < chosen.length; t++) {
                for (Option o : items.get(t).options()) {
                    double gain = chosen[t].error() - o.error();
                    if (gain <= 0) continue;
                    long extra = o.bits() - chosen[t].bits();
                    for (int u = 0; u < chosen.length; u++) {
                        if (u == t) continue;
                        for (Option d : items.get(u).options()) {
                            double net = gain - (d.error() - chosen[u].error());
                            if (net > bestGain && bits + extra + d.bits() - chosen[u].bits() <= budget) {
                                bestGain = net;
                                bestT = t;
                                bestU = u;
                                pairUp = o;
                                bestDown = d;
                            }
                        }
                    }
                }
            }
            if (best == null) best = pairUp;
            if (best == null) return bits;
            if (bestDown != null) {
                bits += bestDown.bits() - chosen[bestU].bits();
                chosen[bestU] = bestDown;
            }
            bits += best.bits() - chosen[bestT].bits();
            chosen[bestT] = best;
        }
        return bits;
    }

    /** The DP's choice per tensor (least total error with rounded-up costs within the budget), or null if rounding leaves no plan. */
    private static Option[] knapsack(List<Item> items, long budget) {
        int n = items.size();
        long unit = Math.max(1, (long) Math.ceil(budget / ((double) DP_UNITS_PER_ITEM * n)));
        int states = (int) (budget / unit);
        double[] best = new double[states + 1], next = new double[states + 1];
        byte[][] pick = new byte[n][states + 1]; // options per tensor are a handful of candidate types
        for (int t = 0; t < n; t++) {
            java.util.Arrays.fill(next, Double.POSITIVE_INFINITY);
            List<Option> opts = items.get(t).options();
            for (int k = 0; k < opts.size() && k < Byte.MAX_VALUE; k++) {
                long cost = (opts.get(k).bits() + unit - 1) / unit;
                if (cost > states) continue;
                for (int s = (int) cost; s <= states; s++) {
                    double e = best[s - (int) cost] + opts.get(k).error();
                    if (e < next[s]) {
                        next[s] = e;
                        pick[t][s] = (byte) k;
                    }
                }
            }
            double[] swap = best;
            best = next;
            next = swap;
        }
        if (best[states] == Double.POSITIVE_INFINITY) return null;
        Option[] chosen = new Option[n];
        int s = states;
        for (int t = n - 1; t >= 0; t--) {
            Option o = items.get(t).options().get(pick[t][s]);
            chosen[t] = o;
            s -= (int) ((o.bits() + unit - 1) / unit);
        }
        return chosen;
    }

    private static double total(Option[] chosen, java.util.function.ToDoubleFunction<Option> f) {
        double sum = 0;
        for (Option o : chosen) sum += f.applyAsDouble(o);
        return sum;
    }

    /** Error added per bit saved going from hull point k to k+1. */
    private static double slope(List<Option> h, int k) {
        return (h.get(k + 1).error() - h.get(k).error()) / (h.get(k).bits() - h.get(k + 1).bits());
    }

    /** The lower convex hull of (bits, error) from the least-error option down to the fewest bits, bits decreasing. */
    static List<Option> hull(List<Option> options) {
        List<Option> sorted = new ArrayList<>(options);
        // fewest bits first, and among equal bits the least error (the others are dominated)
        sorted.sort(Comparator.comparingLong(Option::bits).thenComparingDouble(Option::error));
        List<Option> h = new ArrayList<>();
        for (Option o : sorted) {
            if (!h.isEmpty() && h.getLast().bits() == o.bits()) continue;
            if (!h.isEmpty() && o.error() >= h.getLast().error()) continue; // more bits, no less error: dominated
            // keep the hull convex: drop a middle point lying on or above the chord
            while (h.size() >= 2) {
                Option a = h.get(h.size() - 2), b = h.getLast();
                double cross = (b.bits() - a.bits()) * (o.error() - a.error()) - (b.error() - a.error()) * (o.bits() - a.bits());
                if (cross <= 0) h.removeLast();
                else break;
            }
            h.add(o);
        }
        return h.reversed();
    }
}
