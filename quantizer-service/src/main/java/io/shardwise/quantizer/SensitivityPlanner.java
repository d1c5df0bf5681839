package io.shardwise.quantizer;

import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * A plan shard's work: measures every matrix's {@link QuantizationError} for each candidate type it can hold and
 * lets {@link BitAllocation} choose under the target bpw. Tensors with a fixed type (a per-tensor override, or
 * rows no candidate fits: the fallback) take that type and count in the budget all the same.
 */
public final class SensitivityPlanner {
    private SensitivityPlanner() {
    }

    /** The plan, the allocation behind it and notes for people. */
    public record Result(BitPlan plan, BitAllocation.Plan allocation, List<String> notes) {
    }

    /**
     * @param tensors    the matrices to plan (1-D and ignored tensors already left out)
     * @param fixed      a tensor's fixed type, if it has one
     * @param fallback   the type of a tensor whose rows no candidate fits
     * @param importance the importance of a tensor's weights
     */
    public static Result plan(Iterable<Tensor> tensors, Function<Tensor, Optional<TensorType>> fixed, List<TensorType> candidates,
                              TensorType fallback, Function<String, QuantizationError.Importance> importance, double targetBpw) {
        List<BitAllocation.Item> items = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        for (Tensor t : tensors) {
            long[] shape = t.shape();
            Optional<TensorType> f = fixed.apply(t);
            List<TensorType> types = f.isPresent() ? List.of(f.get()) : candidates.stream().filter(c -> Rtn.fits(c, shape[0])).toList();
            if (types.isEmpty()) {
                if (!Rtn.fits(fallback, shape[0])) throw new IllegalArgumentException(t.name() + ": row " + shape[0] + " fits no candidate nor the fallback " + fallback.typeName() + " (params.fallback)");
                notes.add(t.name() + ": row " + shape[0] + " fits no candidate -> " + fallback.typeName() + " fallback");
                types = List.of(fallback);
            }
            // a fixed type's error does not steer the choice (it has no alternative): measure nothing
            double[] err = types.size() == 1 ? new double[1] : QuantizationError.errors(t, types, importance.apply(t.name()));
            List<BitAllocation.Option> options = new ArrayList<>();
            for (int k = 0; k < types.size(); k++) options.add(new BitAllocation.Option(types.get(k), 8 * types.get(k).byteSize(shape), err[k]));
            items.add(new BitAllocation.Item(t.name(), t.elements(), options));
        }
        if (items.isEmpty()) throw new IllegalArgumentException("target_bpw: no matrix to plan (every tensor is ignored or 1-D)");
        BitAllocation.Plan alloc = BitAllocation.allocate(items, targetBpw);
        Map<String, TensorType> types = new java.util.LinkedHashMap<>();
        Map<String, long[]> perType = new TreeMap<>();
        alloc.choice().forEach((name, o) -> {
            types.put(name, o.type());
            long[] c = perType.computeIfAbsent(o.type().typeName(), k -> new long[2]);
            c[0]++;
        });
        for (BitAllocation.Item i : items) perType.get(alloc.choice().get(i.name()).type().typeName())[1] += i.elements();
        perType.forEach((type, c) -> notes.add(String.format(Locale.ROOT, "plan: %s for %d tensors, %d weights", type, c[0], c[1])));
        notes.add(String.format(Locale.ROOT, "plan: %.4f bpw for target %.4f over %d tensors", alloc.bpw(), targetBpw, items.size()));
        return new Result(new BitPlan(targetBpw, alloc.bpw(), types), alloc, notes);
    }
}
