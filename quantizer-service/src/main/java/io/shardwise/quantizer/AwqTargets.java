package io.shardwise.quantizer;

import io.shardwise.core.tensor.ChannelIntType;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorType;

import java.util.List;
import java.util.Map;

/**
 * The type each matrix of a shard gets in the calibrated quantizers ({@code awq}, {@code imatrix}): the stage's
 * (or a matching override's) type; where the rows do not fit its blocks, the {@code fallback} type (as llama.cpp's
 * quantize falls back); where the fallback does not fit either, F16, noted. Without a fallback a misfit is refused.
 */
record AwqTargets(String method, String field, String defaultType, List<TensorType> allowed, List<TensorType> fallbacks,
                  TensorRules rules) {

    /** The type of tensor {@code t}; appends a note when it is not the requested one. */
    TensorType of(Tensor t, Map<String, String> stageParams, List<String> notes) {
        Map<String, String> p = rules.paramsFor(t.name(), stageParams);
        TensorType want = parse(field, p.getOrDefault(field, defaultType), allowed);
        if (fits(want, t.cols())) return want;
        String fb = rules.fallback().orElseThrow(() -> new IllegalArgumentException(method + ": " + t.name() + " has rows of "
                + t.cols() + " elements, which " + field + " " + want.typeName() + " (blocks of " + ((GgmlType) want).blockSize
                + ") does not divide, and params." + TensorRules.FALLBACK + " is not set"));
        TensorType f = parse(TensorRules.FALLBACK, fb, fallbacks);
        if (fits(f, t.cols())) {
            notes.add(t.name() + ": row " + t.cols() + " % " + ((GgmlType) want).blockSize + " != 0 -> fallback " + f.typeName());
            return f;
        }
        notes.add(t.name() + ": row " + t.cols() + " fits neither " + want.typeName() + " nor fallback " + f.typeName() + " -> F16");
        return GgmlType.F16;
    }

    /** Checks the stage's own type and fallback before any work (an override's are checked per tensor). */
    void validate(Map<String, String> stageParams) {
        parse(field, stageParams.getOrDefault(field, defaultType), allowed);
        rules.fallback().ifPresent(fb -> parse(TensorRules.FALLBACK, fb, fallbacks));
    }

    TensorType parse(String param, String name, List<TensorType> among) {
        for (TensorType t : among) if (t.typeName().equalsIgnoreCase(name.trim())) return t;
        throw new IllegalArgumentException(method + ": params." + param + " '" + name + "' is not one of "
                + among.stream().map(TensorType::typeName).toList());
    }

    static boolean fits(TensorType t, long rowLength) {
        return t instanceof ChannelIntType || !(t instanceof GgmlType g) || !g.isQuantized() || g.fitsRow(rowLength);
    }

    /** The row multiple a type needs (1: any row). */
    static int rowMultiple(TensorType t) {
        return t instanceof GgmlType g && g.isQuantized() ? g.blockSize : 1;
    }
}
