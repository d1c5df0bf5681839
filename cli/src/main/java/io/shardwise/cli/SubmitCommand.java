package io.shardwise.cli;

import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code shardwise submit recipe.yaml [--model uri] [--watch]}. */
@Command(name = "submit", description = "Submit a compression job (model + recipe) to the gateway.")
public final class SubmitCommand implements Callable<Integer> {
    @Mixin
    ServerOption server;

    @Parameters(index = "0", paramLabel = "RECIPE", description = "recipe YAML file")
    Path recipe;

    @Option(names = "--model", paramLabel = "URI", description = "model file or URI (wins over the recipe's model: key)")
    String model;

    @Option(names = "--watch", description = "stream progress until the job finishes")
    boolean watch;

    @Override
    public Integer call() throws IOException {
        String yaml = readRecipe(recipe);
        try (JobClient client = JobClient.connect(server.address())) {
            Job job = client.submit(modelUri(model), yaml);
            System.out.println(job.getJobId());
            if (!watch) return 0;
            EventPrinter printer = new EventPrinter().recipe(job.getRecipe());
            JobEvent last = client.watch(job.getJobId(), 0, e -> {
                String line = printer.line(e);
                if (line != null) System.out.println(line);
            });
            return last != null && last.hasFinished() && last.getFinished().getState() == JobState.SUCCEEDED ? 0 : 1;
        }
    }

    static String readRecipe(Path recipe) throws IOException {
        try {
            return Files.readString(recipe);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(recipe + ": recipe file not found");
        }
    }

    /** A local path becomes an absolute file: URI (the gateway resolves against its model roots); URIs pass as they are. */
    static String modelUri(String model) {
        if (model == null || model.isBlank()) return "";
        if (model.matches("^[a-zA-Z][a-zA-Z0-9+.-]*:.*")) return model;
        return "file:" + Path.of(model).toAbsolutePath().normalize();
    }
}
