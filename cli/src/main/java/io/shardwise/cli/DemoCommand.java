package io.shardwise.cli;

import io.shardwise.proto.v1.JobEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

/**
 * {@code shardwise demo}: starts the local stack, runs a recipe (default: prune magnitude 2:4 -> kd ->
 * rtn Q8_0 -> evaluate) on a model (default: the demo model the project trains itself), shows
 * progress, prints the score table and where the GGUF went, and stops every process it started.
 */
@Command(name = "demo", description = "Run a recipe end to end on a local stack (Kafka + gateway + 4 services) and print the scores.")
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "FILE", description = "model file: llama2.c .bin (tokenizer beside it) or GGUF (default: the built-in demo model)")
    Path model;

    @Option(names = "--recipe", paramLabel = "YAML", description = "recipe file (default: recipes/demo.yaml)")
    Path recipe;

    @Option(names = "--json", description = "print one JSON object per scored event on stdout (progress goes to stderr)")
    boolean json;

    @Option(names = {"--keep-data", "--keep-logs"}, description = "keep the run's Kafka data and blob store too (logs and the GGUF are always kept)")
    boolean keepData;

    @Option(names = "--in-process", description = "run the same stages by calling the techniques directly in this JVM (no Kafka), for comparison")
    boolean inProcess;

    @Option(names = "--dir", paramLabel = "DIR", description = "run folder (default out/demo-<time> in the repository)")
    Path dir;

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        RepoLayout layout = RepoLayout.find();
        PrintStream progress = json ? System.err : System.out;
        Path recipeFile = recipe != null ? recipe : layout.defaultRecipe();
        String yaml = SubmitCommand.readRecipe(recipeFile);
        Path modelFile = model != null ? existing(model) : DemoModels.ensureDefault(progress::println);
        Path runDir = dir != null ? dir.toAbsolutePath() : timestamped(layout, inProcess ? "demo-inprocess" : "demo");
        progress.println("demo: model " + modelFile + ", recipe " + recipeFile + ", run folder " + runDir);
        if (inProcess) {
            InProcessChain.Result r = new InProcessChain(runDir.resolve("blobs"), runDir.resolve("output"), layout, progress::println)
                    .run(modelFile, yaml);
            report(r.table(), r.scoredLines(), r.outputPath(), progress);
            progress.printf(Locale.ROOT, "demo: in-process chain took %.1f s, total %.1f s%n", r.seconds(), (System.nanoTime() - t0) / 1e9);
            return 0;
        }
        LocalStack.Options options = LocalStack.Options.in(runDir).withModelRoots(modelRoots(layout, modelFile));
        Optional<Path> demoText = DemoModels.heldOutText();
        if (demoText.isPresent()) {
            options = options.withProperties(Map.of("shardwise.evaluator.datasets.demo", demoText.get().toString()), RepoLayout.Service.EVALUATOR);
        }
        ChainRun run;
        try (LocalStack stack = LocalStack.start(layout, options, progress::println);
             JobClient client = JobClient.connect(stack.grpcAddress())) {
            EventPrinter printer = new EventPrinter();
            Consumer<JobEvent> sink = e -> {
                String line = printer.line(e);
                if (line != null) progress.println(line);
                if (json && e.hasScored() && JobFormat.shown(e.getScored())) System.out.println(Json.scored(e.getScored())); // live, one per line
            };
            run = ChainRun.run(client, SubmitCommand.modelUri(modelFile.toString()), yaml, sink);
        }
        report(run.table(), List.of(), run.finished().getOutputPath(), progress);
        if (!keepData) cleanData(runDir);
        progress.printf(Locale.ROOT, "demo: job %s %s; chain %.1f s, demo wall time %.1f s; logs in %s%n", run.jobId(),
                JobFormat.stateName(run.finished().getState()), run.elapsed().toMillis() / 1e3, (System.nanoTime() - t0) / 1e9,
                options.logDir());
        if (!run.succeeded()) {
            System.err.println("shardwise demo: job " + run.jobId() + " failed: " + run.finished().getError());
            return 1;
        }
        return 0;
    }

    private void report(ScoreTable table, List<String> scoredLines, String output, PrintStream progress) {
        if (json) {
            scoredLines.forEach(System.out::println);
        } else {
            System.out.println();
            System.out.print(table.render());
            System.out.println();
        }
        if (!output.isEmpty()) progress.println("demo: wrote " + output);
    }

    private static Path existing(Path p) throws IOException {
        if (!Files.isRegularFile(p)) throw new java.nio.file.NoSuchFileException(p + ": model file not found");
        return p.toAbsolutePath().normalize();
    }

    /** The model's folder (its tokenizer lies beside it) and the shared data, as the gateway's allowed roots. */
    static List<Path> modelRoots(RepoLayout layout, Path modelFile) {
        List<Path> roots = new ArrayList<>(List.of(modelFile.getParent()));
        layout.shared().ifPresent(s -> roots.add(s.resolve("data")));
        return roots;
    }

    static Path timestamped(RepoLayout layout, String prefix) {
        String ts = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        return layout.outDir().resolve(prefix + "-" + ts);
    }

    /** Kafka's log segments and the blob store are large and only useful for debugging. */
    private static void cleanData(Path runDir) {
        for (String sub : List.of("kafka", "blobs")) {
            Path d = runDir.resolve(sub);
            if (!Files.isDirectory(d)) continue;
            try (var files = Files.walk(d)) {
                for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            } catch (IOException e) {
                System.err.println("demo: could not delete " + d + ": " + e.getMessage());
            }
        }
    }
}
