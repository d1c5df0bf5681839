package io.shardwise.quantizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.shardwise.core.format.hf.HfLlama;
import io.shardwise.proto.v1.ParamSpec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The per-tensor rules every quantize method shares: {@code ignore} (regexes of tensors kept as they are),
 * {@code overrides} (regex -> parameters that replace the stage's for matching tensors, e.g.
 * {@code { "blk\\.0\\..*": { bits: 8 } }}; the first match wins) and {@code fallback} (the type a matrix gets when
 * its rows do not fit the group or block size; absent, such a job is refused at submit). A regex matches when it
 * is found in the GGUF name ({@code blk.0.attn_q.weight}) or the Hugging Face name ({@code model.layers.0.self_attn.q_proj.weight}).
 */
public record TensorRules(List<Pattern> ignore, List<Override> overrides, Optional<String> fallback) {
    public static final String IGNORE = "ignore", OVERRIDES = "overrides", FALLBACK = "fallback";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Parameters that replace the stage's for tensors whose name matches. */
    public record Override(Pattern pattern, Map<String, String> params) {
    }

    public static TensorRules parse(String method, Map<String, String> params) {
        List<Pattern> ignore = new ArrayList<>();
        for (String s : params.getOrDefault(IGNORE, "").split(",")) {
            if (!s.isBlank()) ignore.add(regex(method, IGNORE, s.trim()));
        }
        List<Override> overrides = new ArrayList<>();
        String o = params.getOrDefault(OVERRIDES, "").trim();
        if (!o.isEmpty()) {
            JsonNode root;
            try {
                root = JSON.readTree(o);
            } catch (Exception e) {
                throw new IllegalArgumentException(method + ": params.overrides is not a mapping of regex -> parameters: " + e.getMessage());
            }
            if (root == null || !root.isObject()) throw new IllegalArgumentException(method + ": params.overrides must be a mapping of regex -> { parameter: value }");
            for (Map.Entry<String, JsonNode> e : root.properties()) {
                Pattern p = regex(method, OVERRIDES, e.getKey());
                if (!e.getValue().isObject()) throw new IllegalArgumentException(method + ": params.overrides." + e.getKey() + " must be a mapping { parameter: value }");
                Map<String, String> ps = new LinkedHashMap<>();
                for (Map.Entry<String, JsonNode> pe : e.getValue().properties()) {
                    if (!pe.getValue().isValueNode()) throw new IllegalArgumentException(method + ": params.overrides." + e.getKey() + "." + pe.getKey() + " must be a single value");
                    if (pe.getKey().equals(OVERRIDES) || pe.getKey().equals(IGNORE)) throw new IllegalArgumentException(method + ": params.overrides." + e.getKey() + " cannot set " + pe.getKey());
                    ps.put(pe.getKey(), pe.getValue().asText());
                }
                overrides.add(new Override(p, Map.copyOf(ps)));
            }
        }
        String fb = params.getOrDefault(FALLBACK, "").trim();
        return new TensorRules(List.copyOf(ignore), List.copyOf(overrides), fb.isEmpty() ? Optional.empty() : Optional.of(fb));
    }

    public boolean ignored(String tensor) {
        return ignore.stream().anyMatch(p -> matches(p, tensor));
    }

    /** The first override whose regex matches {@code tensor}, if any. */
    public Optional<Override> overrideFor(String tensor) {
        return overrides.stream().filter(o -> matches(o.pattern(), tensor)).findFirst();
    }

    /** Refuses an override that sets a parameter outside {@code overridable}, naming it. */
    public void requireOverridable(String method, java.util.Set<String> overridable) {
        for (Override o : overrides) {
            for (String k : o.params().keySet()) {
                if (!overridable.contains(k)) {
                    throw new IllegalArgumentException(method + ": params.overrides." + o.pattern().pattern() + "." + k
                            + " is not a parameter " + method + " can override per tensor (known: " + String.join(", ", new java.util.TreeSet<>(overridable)) + ")");
                }
            }
        }
    }

    /** The stage's parameters with the first matching override's on top. */
    public Map<String, String> paramsFor(String tensor, Map<String, String> stageParams) {
        for (Override o : overrides) {
            if (matches(o.pattern(), tensor)) {
                Map<String, String> m = new LinkedHashMap<>(stageParams);
                m.putAll(o.params());
                return m;
            }
        }
        return stageParams;
    }

    static boolean matches(Pattern p, String gguf) {
        if (p.matcher(gguf).find()) return true;
        String hf = HfLlama.hfName(gguf);
        return hf != null && p.matcher(hf).find();
    }

    private static Pattern regex(String method, String param, String s) {
        try {
            return Pattern.compile(s);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException(method + ": params." + param + " entry '" + s + "' is not a regex: " + e.getDescription());
        }
    }

    /** The specs of ignore, overrides and fallback; {@code fallbackDefault} "" means a misfit is refused at submit. */
    public static List<ParamSpec> paramSpecs(String fallbackDefault, List<String> fallbackTypes) {
        return List.of(
                ParamSpec.newBuilder().setName(IGNORE).setDefaultValue("")
                        .setDescription("comma-separated regexes (GGUF or HF tensor names); a matching tensor is kept as it is").build(),
                ParamSpec.newBuilder().setName(OVERRIDES).setDefaultValue("")
                        .setDescription("mapping regex -> parameters for matching tensors, e.g. {\"blk\\\\.0\\\\.\": {\"bits\": 8}}; first match wins").build(),
                ParamSpec.newBuilder().setName(FALLBACK).setDefaultValue(fallbackDefault).addAllAllowed(fallbackTypes)
                        .setDescription("the type of a matrix whose rows the group/block size does not divide (as llama.cpp's fallback types); empty: such a job is refused").build());
    }
}
