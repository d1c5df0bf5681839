package io.shardwise.cli;

import io.shardwise.core.recipe.Recipe;
import io.shardwise.core.recipe.RecipeParser;
import io.shardwise.core.recipe.RecipeStage;
import io.shardwise.proto.v1.StageKind;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** The example recipes in recipes/ are valid, and the demo's is the chain the README promises. */
class RecipesTest {
    private static final Path RECIPES = RepoLayout.find().root().resolve("recipes");

    @Test
    void everyExampleRecipeParses() throws Exception {
        try (Stream<Path> files = Files.list(RECIPES)) {
            List<Path> yamls = files.filter(p -> p.toString().endsWith(".yaml")).toList();
            assertFalse(yamls.isEmpty());
            for (Path p : yamls) RecipeParser.parse(Files.readString(p));
        }
    }

    @Test
    void demoRecipeIsPruneTwoFourThenKdThenQ8() throws Exception {
        Recipe r = RecipeParser.parse(Files.readString(RECIPES.resolve("demo.yaml")));
        List<RecipeStage> s = r.stages();
        assertEquals(3, s.size());
        assertEquals(StageKind.PRUNE, s.get(0).kind());
        assertEquals("magnitude", s.get(0).method());
        assertEquals("2:4", s.get(0).params().get("pattern"));
        assertEquals(StageKind.DISTILL, s.get(1).kind());
        assertEquals("kd", s.get(1).method());
        assertEquals(StageKind.QUANTIZE, s.get(2).kind());
        assertEquals("rtn", s.get(2).method());
        assertEquals("Q8_0", s.get(2).params().get("type"));
        assertEquals(List.of("demo"), r.evaluate().suites());
    }
}
