package io.shardwise.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.Status;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.proto.v1.ParamSpec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Submit-time check that a quantize stage's group or block size fits the model's rows: for a parameter whose
 * {@link ParamSpec} has {@code divides_rows_unless} (its value, when a number > 0, must divide the row length of every
 * matrix) or a {@code row_multiple} entry for its value (the row multiple of a block type, e.g. Q4_K -> 256), every
 * 2-D tensor the stage does not {@code ignore} must fit, unless the stage (or the tensor's {@code overrides} entry)
 * sets the escape parameter ({@code divides_rows_unless}'s name; {@code fallback} for row multiples).
 * Regexes match the GGUF name or the Hugging Face name, as the quantizer's TensorRules do.
 */
final class RowFit {
    static final String IGNORE = "ignore", OVERRIDES = "overrides", FALLBACK = "fallback";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A matrix of the model: its GGUF name and row length (ne0). */
    record Matrix(String name, long rowLength) {
    }

    private record Override(String regex, Pattern pattern, Map<String, String> params) {
    }

    private RowFit() {
    }

    /**
     * @param at      the stage's field prefix, e.g. {@code recipe_yaml: stages[0].quantize}
     * @param given   the parameters the stage sets
     * @param specs   the technique's parameter specs by name
     * @param matrices the model's 2-D tensors
     */
    static void check(String at, Map<String, String> given, Map<String, ParamSpec> specs, List<Matrix> matrices) throws JobRejected {
        List<ParamSpec> sized = specs.values().stream()
                .filter(p -> !p.getDividesRowsUnless().isEmpty() || p.getRowMultipleCount() > 0).toList();
        if (sized.isEmpty()) return;
        List<Pattern> ignore = ignore(at, given.getOrDefault(IGNORE, ""));
        List<Override> overrides = specs.containsKey(OVERRIDES) ? overrides(at, given.getOrDefault(OVERRIDES, "")) : List.of();
        for (ParamSpec p : sized) {
            for (Matrix m : matrices) {
                if (ignore.stream().anyMatch(r -> matches(r, m.name()))) continue;
                Override o = overrides.stream().filter(x -> matches(x.pattern(), m.name())).findFirst().orElse(null);
                Map<String, String> params = new LinkedHashMap<>(given);
                if (o != null) params.putAll(o.params());
                String field = o != null && o.params().containsKey(p.getName())
                        ? at + "." + OVERRIDES + "." + o.regex() + "." + p.getName() : at + "." + p.getName();
                boolean dflt = !params.containsKey(p.getName());
                String value = params.getOrDefault(p.getName(), p.getDefaultValue()).trim();
                String shown = value + (dflt ? " (the default)" : "");
                if (!p.getDividesRowsUnless().isEmpty()) {
                    long v = wholeNumber(value);
                    if (v > 0 && m.rowLength() % v != 0 && !escaped(p.getDividesRowsUnless(), params, specs)) {
                        throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": " + shown + " does not divide the rows of " + m.name()
                                + " (" + m.rowLength() + " wide); set " + escape(p.getDividesRowsUnless(), specs) + " or pick a "
                                + p.getName().replace('_', ' ') + " that divides every row");
                    }
                }
                Integer multiple = p.getRowMultipleMap().get(value);
                if (multiple != null && multiple > 1 && m.rowLength() % multiple != 0 && !escaped(FALLBACK, params, specs)) {
                    throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": " + shown + " needs rows that are a multiple of " + multiple
                            + ", but " + m.name() + " is " + m.rowLength() + " wide; set " + escape(FALLBACK, specs) + " or pick a "
                            + p.getName().replace('_', ' ') + " that fits every row");
                }
            }
        }
    }

    /** The escape parameter is set when the stage gives it or the technique's default is not empty. */
    private static boolean escaped(String name, Map<String, String> params, Map<String, ParamSpec> specs) {
        String v = params.get(name);
        if (v == null) v = specs.containsKey(name) ? specs.get(name).getDefaultValue() : "";
        return !v.isBlank();
    }

    private static String escape(String name, Map<String, ParamSpec> specs) {
        ParamSpec s = specs.get(name);
        return s != null && s.getAllowedCount() > 0 ? name + " (e.g. " + s.getAllowed(0) + ")" : name;
    }

    /** A whole number > 0, else -1 (0, negative and non-numbers mean "no groups", e.g. per-channel). */
    private static long wholeNumber(String v) {
        try {
            double d = Double.parseDouble(v);
            return d > 0 && d == Math.rint(d) ? (long) d : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static boolean matches(Pattern p, String gguf) {
        if (p.matcher(gguf).find()) return true;
        String hf = HfLlama.hfName(gguf);
        return hf != null && p.matcher(hf).find();
    }

    private static List<Pattern> ignore(String at, String spec) throws JobRejected {
        List<Pattern> out = new ArrayList<>();
        for (String s : spec.split(",")) {
            if (!s.isBlank()) out.add(regex(at + "." + IGNORE, s.trim()));
        }
        return out;
    }

    private static List<Override> overrides(String at, String json) throws JobRejected {
        List<Override> out = new ArrayList<>();
        if (json.isBlank()) return out;
        String field = at + "." + OVERRIDES;
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (Exception e) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": not a mapping of regex -> parameters: " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": expected a mapping of regex -> { parameter: value }");
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (!e.getValue().isObject()) throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + "." + e.getKey() + ": expected a mapping { parameter: value }");
            Map<String, String> ps = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> pe : e.getValue().properties()) ps.put(pe.getKey(), pe.getValue().asText());
            out.add(new Override(e.getKey(), regex(field, e.getKey()), ps));
        }
        return out;
    }

    private static Pattern regex(String field, String s) throws JobRejected {
        try {
            return Pattern.compile(s);
        } catch (PatternSyntaxException e) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": '" + s + "' is not a regex: " + e.getDescription());
        }
    }
}
