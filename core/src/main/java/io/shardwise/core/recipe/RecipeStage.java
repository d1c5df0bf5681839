package io.shardwise.core.recipe;

import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageSpec;

import java.util.Map;

/**
 * One stage of a recipe: its kind, method and parameters (as the strings every service parses),
 * and a name unique in the job (the kind, or the user's {@code name:} label).
 */
public sealed interface RecipeStage {

    String name();

    String method();

    /** Parameters as strings: lists joined by commas, nested maps (e.g. {@code overrides}) as compact JSON. */
    Map<String, String> params();

    StageKind kind();

    /** The YAML key of this kind: prune, distill, quantize. */
    default String key() {
        return kind().name().toLowerCase(java.util.Locale.ROOT);
    }

    default StageSpec toProto(int index) {
        return StageSpec.newBuilder().setIndex(index).setKind(kind()).setMethod(method())
                .putAllParams(params()).setName(name()).build();
    }

    static RecipeStage of(StageKind kind, String name, String method, Map<String, String> params) {
        return switch (kind) {
            case PRUNE -> new Prune(name, method, params);
            case DISTILL -> new Distill(name, method, params);
            case QUANTIZE -> new Quantize(name, method, params);
            default -> throw new IllegalArgumentException("no recipe stage of kind " + kind);
        };
    }

    record Prune(String name, String method, Map<String, String> params) implements RecipeStage {
        public Prune {
            params = Map.copyOf(params);
        }

        @Override
        public StageKind kind() {
            return StageKind.PRUNE;
        }
    }

    record Distill(String name, String method, Map<String, String> params) implements RecipeStage {
        public Distill {
            params = Map.copyOf(params);
        }

        @Override
        public StageKind kind() {
            return StageKind.DISTILL;
        }
    }

    record Quantize(String name, String method, Map<String, String> params) implements RecipeStage {
        public Quantize {
            params = Map.copyOf(params);
        }

        @Override
        public StageKind kind() {
            return StageKind.QUANTIZE;
        }
    }
}
