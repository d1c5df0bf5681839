package io.shardwise.quantizer;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.TensorType;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BitAllocationTest {
    private static final List<GgmlType> LADDER = List.of(GgmlType.Q8_0, GgmlType.Q5_1, GgmlType.Q5_0, GgmlType.Q4_1, GgmlType.Q4_0);

    /** A tensor of n weights whose error in a type of b bits per weight is sensitivity * n * 4^-b (RTN's rate-distortion shape). */
    static BitAllocation.Item item(String name, long n, double sensitivity) {
        List<BitAllocation.Option> options = new ArrayList<>();
        for (GgmlType t : LADDER) {
            long bits = 8 * t.byteSize(new long[]{n});
            options.add(new BitAllocation.Option(t, bits, sensitivity * n * Math.pow(4, -(double) bits / n)));
        }
        return new BitAllocation.Item(name, n, options);
    }

    static List<BitAllocation.Item> randomItems(long seed, int count) {
        SplittableRandom r = new SplittableRandom(seed);
        List<BitAllocation.Item> items = new ArrayList<>();
        for (int i = 0; i < count; i++) items.add(item("t" + i, 32L * (1 + r.nextInt(64)), Math.exp(r.nextGaussian() * 2)));
        return items;
    }

    @Test
    void theBudgetHoldsAndTheErrorFallsAsTheBudgetGrows() {
        for (long seed = 1; seed <= 20; seed++) {
            List<BitAllocation.Item> items = randomItems(seed, 30);
            double lastError = Double.POSITIVE_INFINITY;
            for (double target = 4.5; target <= 8.5; target += 0.125) {
                BitAllocation.Plan p = BitAllocation.allocate(items, target);
                assertTrue(p.bpw() <= target, "seed " + seed + " target " + target + ": " + p.bpw());
                assertTrue(p.error() <= lastError * (1 + 1e-12), "seed " + seed + " target " + target + ": error " + p.error() + " > " + lastError);
                assertEquals(items.size(), p.choice().size());
                lastError = p.error();
            }
            // the extremes: everything at the cheapest, everything at the best
            assertTrue(BitAllocation.allocate(items, 4.5).choice().values().stream().allMatch(o -> o.type() == GgmlType.Q4_0));
            assertTrue(BitAllocation.allocate(items, 8.5).choice().values().stream().allMatch(o -> o.type() == GgmlType.Q8_0));
        }
    }

    @Test
    void theSensitiveTensorGetsTheBits() {
        List<BitAllocation.Item> items = List.of(item("calm", 4096, 1), item("touchy", 4096, 1000), item("calm2", 4096, 1));
        // 6 bpw: Q8_0 (8.5) for one and Q4_0 (4.5) for two fits, with 2048 bits to spare (one Q4_0 -> Q4_1)
        BitAllocation.Plan p = BitAllocation.allocate(items, 6.0);
        assertEquals(GgmlType.Q8_0, p.choice().get("touchy").type(), p.choice().toString());
        assertEquals(java.util.Set.of(GgmlType.Q4_0, GgmlType.Q4_1), java.util.Set.of(p.choice().get("calm").type(), p.choice().get("calm2").type()), p.choice().toString());
        assertTrue(p.bpw() <= 6.0);
    }

    @Test
    void theGreedyMatchesExhaustiveSearchOnSmallCases() {
        for (long seed = 1; seed <= 30; seed++) {
            List<BitAllocation.Item> items = randomItems(100 + seed, 4);
            double target = 4.5 + new SplittableRandom(seed).nextDouble() * 4;
            double best = exhaustive(items, 0, 0, 0, (long) Math.floor(target * items.stream().mapToLong(BitAllocation.Item::elements).sum()));
            double got = BitAllocation.allocate(items, target).error();
            // greedy Lagrangian is optimal on the hull points; between them (a knapsack) the exchange pass closes most of the gap
            assertTrue(got <= best * 1.25 + 1e-12, "seed " + seed + ": greedy " + got + " vs optimum " + best);
            assertTrue(got >= best * (1 - 1e-12));
        }
    }

    private static double exhaustive(List<BitAllocation.Item> items, int i, long bits, double err, long budget) {
        if (bits > budget) return Double.POSITIVE_INFINITY;
        if (i == items.size()) return err;
        double best = Double.POSITIVE_INFINITY;
        for (BitAllocation.Option o : items.get(i).options()) best = Math.min(best, exhaustive(items, i + 1, bits + o.bits(), err + o.error(), budget));
        return best;
    }

    @Test
    void dominatedOptionsAreNeverChosenAndFixedTensorsCountInTheBudget() {
        // I8_ASYM_CH costs more than Q8_0 here and errs more: dominated
        List<BitAllocation.Option> opts = List.of(new BitAllocation.Option(GgmlType.Q8_0, 8500, 1), new BitAllocation.Option(ChannelIntType.I8_ASYM_CH, 9000, 2),
                new BitAllocation.Option(GgmlType.Q4_0, 4500, 50));
        BitAllocation.Item a = new BitAllocation.Item("a", 1000, opts);
        BitAllocation.Item fixed = new BitAllocation.Item("fixed", 1000, List.of(new BitAllocation.Option(GgmlType.F16, 16000, 0)));
        BitAllocation.Plan p = BitAllocation.allocate(List.of(a, fixed), 16);
        assertEquals(GgmlType.Q8_0, p.choice().get("a").type());
        assertEquals(24500, p.bits());
        // 12.2 bpw leaves a 8400 bits beside the fixed F16: only Q4_0 fits
        assertEquals(GgmlType.Q4_0, BitAllocation.allocate(List.of(a, fixed), 12.2).choice().get("a").type());
    }

    @Test
    void aTargetBelowTheCheapestCandidateIsRefusedNamingTargetBpw() {
        List<BitAllocation.Item> items = randomItems(7, 5);
        var e = assertThrows(IllegalArgumentException.class, () -> BitAllocation.allocate(items, 4.0));
        assertTrue(e.getMessage().startsWith("target_bpw: 4.000 is below 4.5000"), e.getMessage());
    }
}
