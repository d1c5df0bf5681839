package io.shardwise.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.shardwise.proto.v1.ModelScored;

import java.util.LinkedHashMap;
import java.util.Map;

/** One-line JSON objects the CLI prints for scripts ({@code eval --json}, {@code demo --json}). */
public final class Json {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {
    }

    public static String line(Map<String, ?> fields) {
        try {
            return MAPPER.writeValueAsString(fields);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON: " + e.getMessage(), e);
        }
    }

    /** {@code eval --json}: {"model","dataset","tokens","nll","ppl"}. */
    public static String eval(String model, String dataset, long tokens, double nll, double ppl) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("dataset", dataset);
        m.put("tokens", tokens);
        m.put("nll", nll);
        m.put("ppl", ppl);
        return line(m);
    }

    /** {@code eval --kv-cache --json}: {"model","dataset","kv_cache","tokens","nll","ppl","f32_ppl"}, f32_ppl the same model's with a float32 cache. */
    public static String eval(String model, String dataset, String kvCache, long tokens, double nll, double ppl, double f32Ppl) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model);
        m.put("dataset", dataset);
        m.put("kv_cache", kvCache);
        m.put("tokens", tokens);
        m.put("nll", nll);
        m.put("ppl", ppl);
        m.put("f32_ppl", f32Ppl);
        return line(m);
    }

    /** One scored event: job, stage, stage_index, method, metric, dataset, kv_cache (f32, int8, int4), value, baseline, tokens, protocol, manifest. */
    public static String scored(ModelScored s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("job", s.getJobId());
        m.put("stage", s.getStageIndex() < 0 ? "source" : s.getStageName());
        m.put("stage_index", s.getStageIndex());
        m.put("method", s.getStageIndex() < 0 && s.getMethod().isEmpty() ? "none" : s.getMethod());
        m.put("metric", s.getMetric());
        m.put("dataset", s.getDataset());
        m.put("kv_cache", s.getKvCache().isEmpty() ? "f32" : s.getKvCache());
        m.put("value", finite(s.getValue()));
        m.put("baseline", finite(s.getBaselineValue()));
        m.put("tokens", s.getTokens());
        m.put("protocol", s.getProtocol());
        m.put("manifest", s.getManifest());
        return line(m);
    }

    /** JSON has no NaN: missing values are null. */
    private static Double finite(double v) {
        return Double.isNaN(v) || Double.isInfinite(v) ? null : v;
    }
}
