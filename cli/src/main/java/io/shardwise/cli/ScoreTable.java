package io.shardwise.cli;

import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.Recipe;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The demo's summary: one row per model (source, then each stage) with size and quality, and the
 * change in perplexity against the source model in percent. Perplexity with a quantized KV cache
 * ({@code evaluate.kv_cache}) gets its own columns, "ppl tinystories (kv int8)", beside the dataset's
 * float32 one, with its change against the same model's float32-KV perplexity.
 */
public final class ScoreTable {
    /** A perplexity column taken with a quantized KV cache: dataset and KV-cache label (int8, int4). */
    public record KvColumn(String dataset, String kv) {
        public String header() {
            return "ppl " + dataset + " (kv " + kv + ")";
        }
    }

    /** One row: a stage's scores by metric, ppl by dataset (float32 KV cache), and ppl per quantized-KV column. */
    public record Row(int stageIndex, String stage, String method, Map<String, Double> metrics, Map<String, Double> ppl,
                      Map<KvColumn, Double> kvPpl) {
        public double metric(String name) {
            return metrics.getOrDefault(name, Double.NaN);
        }

        /** Sparsity as scored, else from params and nonzero_params. */
        public double sparsity() {
            if (metrics.containsKey("sparsity")) return metrics.get("sparsity");
            double p = metric("params"), nz = metric("nonzero_params");
            return p > 0 && !Double.isNaN(nz) ? 1 - nz / p : Double.NaN;
        }
    }

    private final Map<Integer, Row> rows = new TreeMap<>();
    private final Set<String> datasets = new LinkedHashSet<>();
    private final Set<KvColumn> kvColumns = new LinkedHashSet<>();
    private final Recipe recipe;

    public ScoreTable(Recipe recipe) {
        this.recipe = recipe;
    }

    public ScoreTable add(ModelScored s) {
        if (!JobFormat.shown(s)) return this;
        int i = s.getStageIndex();
        Row row = rows.computeIfAbsent(i, k -> new Row(k, k < 0 ? "source" : stageName(k, s), method(k, s),
                new LinkedHashMap<>(), new LinkedHashMap<>(), new LinkedHashMap<>()));
        if (!s.getKvCache().isEmpty()) { // only ppl has a KV column; the size metrics and nll rows stay float32's
            if (s.getMetric().equals("ppl")) {
                datasets.add(s.getDataset());
                KvColumn col = new KvColumn(s.getDataset(), s.getKvCache());
                kvColumns.add(col);
                row.kvPpl().put(col, s.getValue());
            }
        } else if (s.getMetric().equals("ppl")) {
            datasets.add(s.getDataset());
            row.ppl().put(s.getDataset(), s.getValue());
        } else if (s.getDataset().isEmpty() || !row.metrics().containsKey(s.getMetric())) {
            row.metrics().put(s.getMetric(), s.getValue());
        }
        return this;
    }

    private String stageName(int i, ModelScored s) {
        if (!s.getStageName().isEmpty()) return s.getStageName();
        return i < recipe.getStagesCount() ? recipe.getStages(i).getName() : "stage " + i;
    }

    private String method(int i, ModelScored s) {
        if (i < 0) return "-";
        if (!s.getMethod().isEmpty()) return s.getMethod();
        return i < recipe.getStagesCount() ? recipe.getStages(i).getMethod() : "";
    }

    public List<Row> rows() {
        return new ArrayList<>(rows.values());
    }

    public Row row(int stageIndex) {
        return rows.get(stageIndex);
    }

    /** Perplexity change against the source model on a dataset, in percent (NaN when either is missing). */
    public double changePercent(int stageIndex, String dataset) {
        Row src = rows.get(-1), r = rows.get(stageIndex);
        if (src == null || r == null || !src.ppl().containsKey(dataset) || !r.ppl().containsKey(dataset)) return Double.NaN;
        return 100 * (r.ppl().get(dataset) / src.ppl().get(dataset) - 1);
    }

    /** Perplexity change of a quantized KV cache against the same model's float32 KV cache, in percent (NaN when either is missing). */
    public double kvChangePercent(int stageIndex, KvColumn col) {
        Row r = rows.get(stageIndex);
        if (r == null || !r.kvPpl().containsKey(col) || !r.ppl().containsKey(col.dataset())) return Double.NaN;
        return 100 * (r.kvPpl().get(col) / r.ppl().get(col.dataset()) - 1);
    }

    private List<KvColumn> kvColumns(String dataset) {
        return kvColumns.stream().filter(c -> c.dataset().equals(dataset)).toList();
    }

    public String render() {
        List<String> header = new ArrayList<>(List.of("stage", "method", "bytes", "bpw", "sparsity"));
        for (String d : datasets) {
            header.add("ppl " + d);
            header.add("vs source");
            for (KvColumn k : kvColumns(d)) {
                header.add(k.header());
                header.add("vs f32");
            }
        }
        List<List<String>> cells = new ArrayList<>();
        cells.add(header);
        for (Row r : rows.values()) {
            List<String> c = new ArrayList<>();
            c.add(r.stageIndex() < 0 ? "source" : r.stageIndex() + " " + r.stage());
            c.add(r.method());
            c.add(fmt(r.metric("bytes"), "%,.0f"));
            c.add(fmt(r.metric("bpw"), "%.2f"));
            c.add(fmt(100 * r.sparsity(), "%.1f%%"));
            for (String d : datasets) {
                c.add(fmt(r.ppl().getOrDefault(d, Double.NaN), "%.4f"));
                c.add(r.stageIndex() < 0 ? "" : fmt(changePercent(r.stageIndex(), d), "%+.2f%%"));
                for (KvColumn k : kvColumns(d)) {
                    c.add(fmt(r.kvPpl().getOrDefault(k, Double.NaN), "%.4f"));
                    c.add(fmt(kvChangePercent(r.stageIndex(), k), "%+.3f%%"));
                }
            }
            cells.add(c);
        }
        return layout(cells);
    }

    private static String fmt(double v, String pattern) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, pattern, v);
    }

    private static String layout(List<List<String>> cells) {
        int cols = cells.getFirst().size();
        int[] w = new int[cols];
        for (List<String> row : cells) for (int i = 0; i < cols; i++) w[i] = Math.max(w[i], row.get(i).length());
        StringBuilder b = new StringBuilder();
        for (int r = 0; r < cells.size(); r++) {
            List<String> row = cells.get(r);
            for (int i = 0; i < cols; i++) {
                String v = row.get(i);
                boolean left = i < 2;
                b.append(left ? String.format("%-" + w[i] + "s", v) : String.format("%" + w[i] + "s", v));
                if (i < cols - 1) b.append("  ");
            }
            b.append('\n');
            if (r == 0) b.append("-".repeat(b.length() - 1)).append('\n');
        }
        return b.toString();
    }
}
