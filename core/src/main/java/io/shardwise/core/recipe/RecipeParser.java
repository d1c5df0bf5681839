package io.shardwise.core.recipe;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.shardwise.core.runtime.KvCacheType;
import io.shardwise.proto.v1.StageKind;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Parses the recipe YAML of DESIGN.md into a {@link Recipe}. It checks the recipe's shape only
 * (which methods and parameters exist is the running services' business, checked by the gateway);
 * every error names the field at fault, YAML syntax errors name the line and column.
 */
public final class RecipeParser {
    public static final List<String> TOP_KEYS = List.of("model", "stages", "evaluate", "output");
    public static final List<String> EVALUATE_KEYS = List.of("suites", "compare_to", "max_tokens", "kv_cache");
    public static final List<String> OUTPUT_KEYS = List.of("format", "type", "path");
    public static final List<String> OUTPUT_FORMATS = List.of("gguf");
    /** Tensor types a GGUF output file can hold that the project writes. */
    public static final List<String> OUTPUT_TYPES = List.of("F32", "F16", "Q8_0", "Q4_0");
    /** Stage keys that are not method parameters. */
    private static final Set<String> STAGE_RESERVED = Set.of("method", "name");
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");

    private static final ObjectMapper YAML = YAMLMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();
    private static final ObjectMapper JSON = new ObjectMapper();

    private RecipeParser() {
    }

    public static Recipe parse(String yaml) throws RecipeException {
        if (yaml == null || yaml.isBlank()) throw new RecipeException("recipe", "empty (expected a mapping with keys " + String.join(", ", TOP_KEYS) + ")");
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            throw syntaxError(e);
        }
        if (root == null || root.isMissingNode() || root.isNull()) throw new RecipeException("recipe", "empty (expected a mapping with keys " + String.join(", ", TOP_KEYS) + ")");
        if (!root.isObject()) throw new RecipeException("recipe", "expected a mapping with keys " + String.join(", ", TOP_KEYS) + ", got " + describe(root));
        checkKeys(root, "", TOP_KEYS);

        String model = root.has("model") ? scalar(root.get("model"), "model") : "";
        List<RecipeStage> stages = stages(root.get("stages"));
        Recipe.Evaluate evaluate = root.has("evaluate") ? evaluate(root.get("evaluate")) : Recipe.Evaluate.DEFAULT;
        Recipe.Output output = root.has("output") ? output(root.get("output")) : Recipe.Output.DEFAULT;
        return new Recipe(model, stages, evaluate, output, yaml);
    }

    /** SnakeYAML's problem mark is where the error is; Jackson's location is where the token began. */
    private static RecipeException syntaxError(JsonProcessingException e) {
        if (e.getCause() instanceof MarkedYAMLException y && y.getProblemMark() != null) {
            Mark m = y.getProblemMark();
            String problem = y.getProblem() != null ? y.getProblem() : y.getContext();
            return new RecipeException("recipe", "YAML syntax error at line " + (m.getLine() + 1) + ", column " + (m.getColumn() + 1) + ": " + problem);
        }
        JsonLocation at = e.getLocation();
        String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
        return new RecipeException("recipe", "YAML syntax error" + where + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
    }

    private static List<RecipeStage> stages(JsonNode node) throws RecipeException {
        if (node == null || node.isNull()) throw new RecipeException("stages", "missing (a recipe needs at least one stage)");
        if (!node.isArray()) throw new RecipeException("stages", "expected a list of stages, got " + describe(node));
        if (node.isEmpty()) throw new RecipeException("stages", "empty (a recipe needs at least one stage)");
        List<RecipeStage> out = new ArrayList<>();
        Map<String, Integer> names = new HashMap<>();
        for (int i = 0; i < node.size(); i++) {
            String at = "stages[" + i + "]";
            JsonNode entry = node.get(i);
            if (!entry.isObject() || entry.size() != 1) {
                throw new RecipeException(at, "expected one stage as '<kind>: { method: ..., ... }' (kinds: " + String.join(", ", kindKeys()) + "), got " + describe(entry));
            }
            String key = entry.fieldNames().next();
            StageKind kind = kindOf(key);
            if (kind == null) throw new RecipeException(at, "unknown stage kind '" + key + "' (known: " + String.join(", ", kindKeys()) + ")");
            String path = at + "." + key;
            JsonNode body = entry.get(key);
            if (body == null || !body.isObject()) throw new RecipeException(path, "expected a mapping with at least 'method', got " + describe(body));
            if (!body.has("method") || body.get("method").isNull()) throw new RecipeException(path + ".method", "missing");
            String method = scalar(body.get("method"), path + ".method");
            if (method.isBlank()) throw new RecipeException(path + ".method", "empty");
            String name = key;
            if (body.has("name")) {
                name = scalar(body.get("name"), path + ".name");
                if (!NAME.matcher(name).matches()) throw new RecipeException(path + ".name", "'" + name + "' is not a valid stage name (letters, digits, '_', '.', '-')");
                if (names.containsKey(name)) throw new RecipeException(path + ".name", "'" + name + "' is already the name of stages[" + names.get(name) + "]");
            } else {
                for (int n = 2; names.containsKey(name); n++) name = key + "-" + n;
            }
            names.put(name, i);
            Map<String, String> params = new LinkedHashMap<>();
            var fields = body.properties();
            for (Map.Entry<String, JsonNode> f : fields) {
                if (STAGE_RESERVED.contains(f.getKey())) continue;
                params.put(f.getKey(), paramValue(f.getValue(), path + "." + f.getKey()));
            }
            out.add(RecipeStage.of(kind, name, method.trim(), params));
        }
        return out;
    }

    /** Scalars as text, lists of scalars joined by commas, mappings as compact JSON (e.g. per-layer overrides). */
    private static String paramValue(JsonNode v, String path) throws RecipeException {
        if (v == null || v.isNull()) throw new RecipeException(path, "no value");
        if (v.isValueNode()) return v.asText();
        if (v.isArray()) {
            List<String> items = new ArrayList<>();
            for (int i = 0; i < v.size(); i++) {
                JsonNode item = v.get(i);
                String at = path + "[" + i + "]";
                if (item == null || item.isNull()) throw new RecipeException(at, "no value");
                if (!item.isValueNode()) throw new RecipeException(at, "expected a scalar, got " + describe(item));
                if (item.asText().contains(",")) throw new RecipeException(at, "'" + item.asText() + "' contains ',', which a comma-joined list parameter cannot carry");
                items.add(item.asText());
            }
            return String.join(",", items);
        }
        try {
            return JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new RecipeException(path, "cannot be written as JSON: " + e.getOriginalMessage());
        }
    }

    private static Recipe.Evaluate evaluate(JsonNode node) throws RecipeException {
        if (!node.isObject()) throw new RecipeException("evaluate", "expected a mapping with keys " + String.join(", ", EVALUATE_KEYS) + ", got " + describe(node));
        checkKeys(node, "evaluate.", EVALUATE_KEYS);
        List<String> suites = new ArrayList<>();
        JsonNode s = node.get("suites");
        if (s != null && !s.isNull()) {
            if (!s.isArray()) throw new RecipeException("evaluate.suites", "expected a list of dataset names or file paths, got " + describe(s));
            Set<String> seen = new LinkedHashSet<>();
            for (int i = 0; i < s.size(); i++) {
                String at = "evaluate.suites[" + i + "]";
                JsonNode item = s.get(i);
                if (item == null || item.isNull()) throw new RecipeException(at, "no value");
                if (!item.isTextual()) throw new RecipeException(at, "expected a dataset name or file path, got " + describe(item));
                String suite = item.asText().trim();
                if (suite.isEmpty()) throw new RecipeException(at, "empty");
                boolean path = suite.startsWith("file:") || suite.startsWith("/");
                if (!path && !NAME.matcher(suite).matches()) throw new RecipeException(at, "'" + suite + "' is neither a dataset name (letters, digits, '_', '.', '-') nor a file path (file:... or /...)");
                if (!seen.add(suite)) throw new RecipeException(at, "'" + suite + "' is listed twice");
                suites.add(suite);
            }
        }
        boolean compare = true;
        if (node.has("compare_to")) {
            String c = scalar(node.get("compare_to"), "evaluate.compare_to");
            compare = switch (c) {
                case "source" -> true;
                case "none" -> false;
                default -> throw new RecipeException("evaluate.compare_to", "'" + c + "' is not supported (known: source, none)");
            };
        }
        int maxTokens = 0;
        if (node.has("max_tokens")) {
            JsonNode m = node.get("max_tokens");
            if (!m.canConvertToInt() || !m.isIntegralNumber() || m.asInt() < 0) throw new RecipeException("evaluate.max_tokens", "expected a whole number >= 0, got " + describe(m));
            maxTokens = m.asInt();
        }
        return new Recipe.Evaluate(suites, compare, maxTokens, kvCache(node.get("kv_cache")));
    }

    /** {@code kv_cache: [int8, int4]}: KV-cache types scored besides float32 (which is always scored). */
    private static List<String> kvCache(JsonNode node) throws RecipeException {
        List<String> out = new ArrayList<>();
        if (node == null || node.isNull()) return out;
        if (!node.isArray()) throw new RecipeException("evaluate.kv_cache", "expected a list of KV-cache types (int8, int4), got " + describe(node));
        for (int i = 0; i < node.size(); i++) {
            String at = "evaluate.kv_cache[" + i + "]";
            JsonNode item = node.get(i);
            if (item == null || item.isNull()) throw new RecipeException(at, "no value");
            if (!item.isValueNode()) throw new RecipeException(at, "expected a KV-cache type (int8, int4), got " + describe(item));
            KvCacheType type;
            try {
                type = KvCacheType.parse(item.asText());
            } catch (IllegalArgumentException e) {
                throw new RecipeException(at, "'" + item.asText() + "' is not a KV-cache type (known: int8, int4)");
            }
            if (!type.quantized()) throw new RecipeException(at, "'" + item.asText() + "': f32 is always scored; list int8 and/or int4");
            if (out.contains(type.label())) throw new RecipeException(at, "'" + type.label() + "' is listed twice");
            out.add(type.label());
        }
        return out;
    }

    private static Recipe.Output output(JsonNode node) throws RecipeException {
        if (!node.isObject()) throw new RecipeException("output", "expected a mapping with keys " + String.join(", ", OUTPUT_KEYS) + ", got " + describe(node));
        checkKeys(node, "output.", OUTPUT_KEYS);
        String format = node.has("format") ? scalar(node.get("format"), "output.format").toLowerCase(Locale.ROOT) : "gguf";
        if (!OUTPUT_FORMATS.contains(format)) throw new RecipeException("output.format", "'" + format + "' is not supported (supported: " + String.join(", ", OUTPUT_FORMATS) + ")");
        String type = node.has("type") ? scalar(node.get("type"), "output.type").toUpperCase(Locale.ROOT) : "";
        if (!type.isEmpty() && !OUTPUT_TYPES.contains(type)) throw new RecipeException("output.type", "'" + type + "' is not supported (supported: " + String.join(", ", OUTPUT_TYPES) + ")");
        String path = node.has("path") ? scalar(node.get("path"), "output.path") : "";
        return new Recipe.Output(format, type, path);
    }

    private static void checkKeys(JsonNode node, String prefix, List<String> known) throws RecipeException {
        var it = node.fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (!known.contains(k)) throw new RecipeException(prefix + k, "unknown key (known: " + String.join(", ", known) + ")");
        }
    }

    private static String scalar(JsonNode v, String path) throws RecipeException {
        if (v == null || v.isNull()) throw new RecipeException(path, "no value");
        if (!v.isValueNode()) throw new RecipeException(path, "expected a single value, got " + describe(v));
        return v.asText();
    }

    private static StageKind kindOf(String key) {
        for (StageKind k : stageKinds()) if (k.name().toLowerCase(Locale.ROOT).equals(key)) return k;
        return null;
    }

    private static List<StageKind> stageKinds() {
        return Arrays.stream(StageKind.values()).filter(k -> k != StageKind.STAGE_KIND_UNSPECIFIED && k != StageKind.UNRECOGNIZED).toList();
    }

    public static List<String> kindKeys() {
        return stageKinds().stream().map(k -> k.name().toLowerCase(Locale.ROOT)).toList();
    }

    private static String describe(JsonNode n) {
        if (n == null || n.isNull()) return "nothing";
        if (n.isObject()) return "a mapping";
        if (n.isArray()) return "a list";
        return "'" + n.asText() + "'";
    }
}
