package io.shardwise.cli;

import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.ModelScored;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.StageStatus;
import io.shardwise.proto.v1.Technique;

import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Plain-text renderings of jobs and techniques for people (the JSON forms live in {@link Json}). */
public final class JobFormat {
    private JobFormat() {
    }

    /** A short digest for tables and progress lines. */
    public static String shortDigest(String digest) {
        return digest == null || digest.length() <= 12 ? String.valueOf(digest) : digest.substring(0, 12);
    }

    public static String stateName(io.shardwise.proto.v1.JobState s) {
        return s == io.shardwise.proto.v1.JobState.UNRECOGNIZED ? "UNKNOWN" : s.name();
    }

    /** {@code shardwise get}: the job, its stages, scores and error. */
    public static String job(Job job) {
        StringBuilder b = new StringBuilder();
        b.append("job      ").append(job.getJobId()).append('\n');
        b.append("state    ").append(stateName(job.getState())).append('\n');
        b.append("model    ").append(job.getModelUri()).append('\n');
        if (!job.getSourceManifest().isEmpty()) b.append("source   ").append(job.getSourceManifest()).append('\n');
        if (job.getSubmittedAtMs() > 0) b.append("submitted ").append(Instant.ofEpochMilli(job.getSubmittedAtMs())).append('\n');
        for (StageStatus s : job.getStagesList()) {
            b.append(String.format(Locale.ROOT, "stage %d  %-10s %-10s %d/%d shards%s%s%n", s.getIndex(), s.getName(), s.getMethod(),
                    s.getShardsDone(), s.getShardCount(), s.getCompleted() ? " done" : "",
                    s.getOutputManifest().isEmpty() ? "" : " -> " + shortDigest(s.getOutputManifest())));
            if (!s.getStatsMap().isEmpty()) b.append("         stats ").append(stats(s.getStatsMap())).append('\n');
            for (String n : s.getNotesList()) b.append("         note  ").append(n).append('\n');
        }
        for (ModelScored sc : job.getScoresList()) if (shown(sc)) b.append("score    ").append(score(sc)).append('\n');
        if (!job.getOutputPath().isEmpty()) b.append("output   ").append(job.getOutputPath()).append('\n');
        if (!job.getError().isEmpty()) b.append("error    ").append(job.getError()).append('\n');
        return b.toString();
    }

    /** One line per job for {@code shardwise list}. */
    public static String listRow(Job job) {
        long done = job.getStagesList().stream().filter(StageStatus::getCompleted).count();
        return String.format(Locale.ROOT, "%-36s %-10s %d/%d stages  %s%s", job.getJobId(), stateName(job.getState()), done,
                job.getStagesCount(), job.getModelUri(), job.getError().isEmpty() ? "" : "  error: " + job.getError());
    }

    /** Scores people read; {@code eval_done} is the evaluator's end-of-task marker for the coordinator. */
    public static boolean shown(ModelScored s) {
        return !s.getMetric().equals("eval_done");
    }

    /** A KV-cache score (kv_cache int8/int4) says so and compares with the same model's float32-KV value, also for the source. */
    public static String score(ModelScored s) {
        String stage = s.getStageIndex() < 0 ? "source" : s.getStageName();
        boolean kv = !s.getKvCache().isEmpty();
        String ds = (s.getDataset().isEmpty() ? "" : " on " + s.getDataset()) + (kv ? " (kv " + s.getKvCache() + ")" : "");
        String base = Double.isNaN(s.getBaselineValue()) || (s.getStageIndex() < 0 && !kv) || s.getBaselineValue() == 0 ? ""
                : String.format(Locale.ROOT, kv ? " (f32 kv %s, %+.3f%%)" : " (source %s, %+.2f%%)", number(s.getBaselineValue()),
                100 * (s.getValue() / s.getBaselineValue() - 1));
        return String.format(Locale.ROOT, "%s %s%s = %s%s", stage, s.getMetric(), ds, number(s.getValue()), base);
    }

    public static String stats(Map<String, Double> stats) {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, Double> e : new TreeMap<>(stats).entrySet()) {
            if (!b.isEmpty()) b.append(' ');
            b.append(e.getKey()).append('=').append(number(e.getValue()));
        }
        return b.toString();
    }

    /** Numbers as people read them: integers without decimals, others with 4 significant digits. */
    public static String number(double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) return String.valueOf(v);
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return String.valueOf((long) v);
        return String.format(Locale.ROOT, Math.abs(v) >= 1000 || Math.abs(v) < 0.001 ? "%.4g" : "%.4f", v);
    }

    /** {@code shardwise techniques}: per service, its methods and parameters. */
    public static String techniques(List<Capabilities> services) {
        StringBuilder b = new StringBuilder();
        for (Capabilities c : services) {
            b.append(c.getService()).append(" (").append(c.getKind()).append(", memory ")
                    .append(c.getMemoryBytes() >> 20).append(" MiB)\n");
            for (Technique t : c.getTechniquesList()) {
                b.append("  ").append(t.getMethod()).append(" - ").append(t.getDescription()).append('\n');
                for (ParamSpec p : t.getParamsList()) {
                    b.append("      ").append(p.getName());
                    if (p.getRequired()) b.append(" (required)");
                    if (!p.getDefaultValue().isEmpty()) b.append(" = ").append(p.getDefaultValue());
                    if (!p.getAllowedList().isEmpty()) b.append(" one of ").append(String.join("|", p.getAllowedList()));
                    if (p.getMin() != 0 || p.getMax() != 0) b.append(" in [").append(number(p.getMin())).append(", ").append(number(p.getMax())).append(']');
                    if (!p.getDescription().isEmpty()) b.append(": ").append(p.getDescription());
                    b.append('\n');
                }
            }
        }
        return b.toString();
    }
}
