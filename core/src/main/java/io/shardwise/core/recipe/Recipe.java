package io.shardwise.core.recipe;

import io.shardwise.proto.v1.EvaluateSpec;
import io.shardwise.proto.v1.OutputSpec;

import java.util.List;

/**
 * A compression recipe as DESIGN.md ("Recipes are data") writes it: an optional model URI, the
 * stages in order (the job's routing slip), what to evaluate and what file to write.
 */
public record Recipe(String model, List<RecipeStage> stages, Evaluate evaluate, Output output, String yaml) {

    public Recipe {
        stages = List.copyOf(stages);
        model = model == null ? "" : model;
    }

    /**
     * Datasets (names or file paths) every stage's output is scored on, whether to compare with the source model, and
     * the KV-cache types (int8, int4) each model's perplexity is scored with again besides float32.
     */
    public record Evaluate(List<String> suites, boolean compareToSource, int maxTokens, List<String> kvCache) {
        public Evaluate {
            suites = List.copyOf(suites);
            kvCache = kvCache == null ? List.of() : List.copyOf(kvCache);
        }

        public Evaluate(List<String> suites, boolean compareToSource, int maxTokens) {
            this(suites, compareToSource, maxTokens, List.of());
        }

        public static final Evaluate DEFAULT = new Evaluate(List.of(), true, 0);
    }

    /** The file the job writes: format (gguf), tensor type for tensors the stages left float32 ("" = keep), path ("" = output dir). */
    public record Output(String format, String type, String path) {
        public static final Output DEFAULT = new Output("gguf", "", "");
    }

    public io.shardwise.proto.v1.Recipe toProto() {
        io.shardwise.proto.v1.Recipe.Builder b = io.shardwise.proto.v1.Recipe.newBuilder();
        for (int i = 0; i < stages.size(); i++) b.addStages(stages.get(i).toProto(i));
        b.setEvaluate(EvaluateSpec.newBuilder().addAllDatasets(evaluate.suites())
                .setCompareToSource(evaluate.compareToSource()).setMaxTokens(evaluate.maxTokens()).addAllKvCache(evaluate.kvCache()));
        b.setOutput(OutputSpec.newBuilder().setFormat(output.format()).setType(output.type()).setPath(output.path()));
        return b.setYaml(yaml == null ? "" : yaml).build();
    }
}
