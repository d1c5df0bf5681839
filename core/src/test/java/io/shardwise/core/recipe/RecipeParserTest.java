package io.shardwise.core.recipe;

import io.shardwise.proto.v1.StageKind;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecipeParserTest {

    static final String DESIGN_RECIPE = """
            model: file:models/stories260K.gguf
            stages:
              - prune:    { method: wanda, sparsity: 0.5, pattern: "2:4" }
              - distill:  { method: kd, loss: forward_kl, teacher: source, steps: 200 }
              - quantize: { method: gptq, bits: 4, group_size: 128, act_order: true,
                            ignore: ["lm_head"], overrides: { "layers\\\\.0\\\\..*": { bits: 8 } } }
            evaluate: { suites: [wikitext2, tinystories, lambada], compare_to: source }
            output:   { format: gguf, type: Q4_0 }
            """;

    static RecipeException error(String yaml) {
        return assertThrows(RecipeException.class, () -> RecipeParser.parse(yaml));
    }

    @Test
    void parsesTheDesignRecipe() throws Exception {
        Recipe r = RecipeParser.parse(DESIGN_RECIPE);
        assertEquals("file:models/stories260K.gguf", r.model());
        assertEquals(3, r.stages().size());
        RecipeStage.Prune p = assertInstanceOf(RecipeStage.Prune.class, r.stages().get(0));
        assertEquals("wanda", p.method());
        assertEquals("0.5", p.params().get("sparsity"));
        assertEquals("2:4", p.params().get("pattern"));
        assertFalse(p.params().containsKey("method"));
        assertInstanceOf(RecipeStage.Distill.class, r.stages().get(1));
        assertEquals("200", r.stages().get(1).params().get("steps"));
        RecipeStage q = r.stages().get(2);
        assertEquals(StageKind.QUANTIZE, q.kind());
        assertEquals("lm_head", q.params().get("ignore"));
        assertEquals("true", q.params().get("act_order"));
        assertEquals("{\"layers\\\\.0\\\\..*\":{\"bits\":8}}", q.params().get("overrides"));
        assertEquals(java.util.List.of("wikitext2", "tinystories", "lambada"), r.evaluate().suites());
        assertTrue(r.evaluate().compareToSource());
        assertEquals("Q4_0", r.output().type());

        var proto = r.toProto();
        assertEquals(3, proto.getStagesCount());
        assertEquals(2, proto.getStages(2).getIndex());
        assertEquals("quantize", proto.getStages(2).getName());
        assertEquals("gptq", proto.getStages(2).getMethod());
        assertEquals("4", proto.getStages(2).getParamsOrThrow("bits"));
        assertEquals(3, proto.getEvaluate().getDatasetsCount());
        assertEquals("gguf", proto.getOutput().getFormat());
        assertEquals(DESIGN_RECIPE, proto.getYaml());
    }

    @Test
    void listsAreJoinedByCommasAndRepeatedKindsGetDistinctNames() throws Exception {
        Recipe r = RecipeParser.parse("""
                stages:
                  - quantize: { method: rtn, type: Q8_0, ignore: ["output\\\\.weight", "blk\\\\.0\\\\..*"] }
                  - quantize: { method: rtn, type: Q4_0 }
                  - prune: { method: magnitude, name: final-prune, sparsity: 0.25 }
                """);
        assertEquals("output\\.weight,blk\\.0\\..*", r.stages().get(0).params().get("ignore"));
        assertEquals("quantize", r.stages().get(0).name());
        assertEquals("quantize-2", r.stages().get(1).name());
        assertEquals("final-prune", r.stages().get(2).name());
        assertFalse(r.stages().get(2).params().containsKey("name"));
        assertEquals("", r.model());
        assertEquals(Recipe.Evaluate.DEFAULT, r.evaluate());
        assertEquals("gguf", r.output().format());
    }

    @Test
    void missingMethodNamesTheStage() {
        RecipeException e = error("""
                stages:
                  - prune: { method: magnitude, sparsity: 0.5 }
                  - quantize: { type: Q8_0 }
                """);
        assertEquals("stages[1].quantize.method", e.field());
        assertEquals("stages[1].quantize.method: missing", e.getMessage());
    }

    @Test
    void unknownStageKindListsTheKnownOnes() {
        RecipeException e = error("stages:\n  - prun: { method: magnitude }\n");
        assertEquals("stages[0]: unknown stage kind 'prun' (known: prune, distill, quantize)", e.getMessage());
    }

    @Test
    void stageWithTwoKindsIsRefused() {
        RecipeException e = error("stages:\n  - prune: { method: magnitude }\n    quantize: { method: rtn }\n");
        assertEquals("stages[0]", e.field());
    }

    @Test
    void stageBodyMustBeAMapping() {
        assertEquals("stages[0].quantize", error("stages:\n  - quantize: rtn\n").field());
    }

    @Test
    void emptyMethodIsRefused() {
        assertEquals("stages[0].quantize.method: empty", error("stages:\n  - quantize: { method: '' }\n").getMessage());
    }

    @Test
    void nullParamIsRefused() {
        assertEquals("stages[0].prune.sparsity: no value", error("stages:\n  - prune: { method: magnitude, sparsity: }\n").getMessage());
    }

    @Test
    void nestedListItemMustBeAScalar() {
        assertEquals("stages[0].quantize.ignore[1]", error("stages:\n  - quantize: { method: rtn, ignore: [a, [b]] }\n").field());
    }

    @Test
    void listItemWithACommaIsRefused() {
        assertEquals("stages[0].quantize.ignore[0]", error("stages:\n  - quantize: { method: rtn, ignore: ['blk\\.[0-9]{1,2}'] }\n").field());
    }

    @Test
    void duplicateStageNameIsRefused() {
        RecipeException e = error("stages:\n  - prune: { method: magnitude, name: a }\n  - quantize: { method: rtn, name: a }\n");
        assertEquals("stages[1].quantize.name: 'a' is already the name of stages[0]", e.getMessage());
    }

    @Test
    void stagesMissingEmptyOrNotAList() {
        assertEquals("stages: missing (a recipe needs at least one stage)", error("model: x\n").getMessage());
        assertEquals("stages", error("stages: []\n").field());
        assertEquals("stages", error("stages: { prune: { method: magnitude } }\n").field());
    }

    @Test
    void unknownTopLevelKeyIsNamed() {
        RecipeException e = error("stages:\n  - prune: { method: magnitude }\nevaluation: { suites: [a] }\n");
        assertEquals("evaluation: unknown key (known: model, stages, evaluate, output)", e.getMessage());
    }

    @Test
    void badSuiteIsNamedByIndex() {
        RecipeException e = error("stages:\n  - prune: { method: magnitude }\nevaluate: { suites: [tinystories, wikitext2, { name: x }] }\n");
        assertEquals("evaluate.suites[2]", e.field());
        assertTrue(e.getMessage().startsWith("evaluate.suites[2]: expected a dataset name or file path"), e.getMessage());
        assertEquals("evaluate.suites[1]", error("stages:\n  - prune: { method: magnitude }\nevaluate: { suites: [a, a] }\n").field());
        assertEquals("evaluate.suites[0]", error("stages:\n  - prune: { method: magnitude }\nevaluate: { suites: ['two words'] }\n").field());
    }

    @Test
    void badEvaluateAndOutputFields() {
        String s = "stages:\n  - prune: { method: magnitude }\n";
        assertEquals("evaluate.compare_to", error(s + "evaluate: { compare_to: teacher }\n").field());
        assertEquals("evaluate.max_tokens", error(s + "evaluate: { max_tokens: -3 }\n").field());
        assertEquals("evaluate.suite", error(s + "evaluate: { suite: [a] }\n").field());
        assertEquals("output.format: 'onnx' is not supported (supported: gguf)", error(s + "output: { format: onnx }\n").getMessage());
        assertEquals("output.type", error(s + "output: { type: Q3_K }\n").field());
        assertEquals("output.dir", error(s + "output: { dir: /tmp }\n").field());
    }

    @Test
    void kvCacheTypesAreCarriedToTheEvaluateSpecAndCheckedEachByIndex() throws RecipeException {
        String s = "stages:\n  - prune: { method: magnitude }\n";
        Recipe r = RecipeParser.parse(s + "evaluate: { suites: [tinystories], kv_cache: [int8, INT4] }\n");
        assertEquals(java.util.List.of("int8", "int4"), r.evaluate().kvCache());
        assertEquals(java.util.List.of("int8", "int4"), r.toProto().getEvaluate().getKvCacheList());
        assertEquals(java.util.List.of(), RecipeParser.parse(s + "evaluate: { suites: [tinystories] }\n").toProto().getEvaluate().getKvCacheList());
        assertEquals("evaluate.kv_cache[1]: 'int3' is not a KV-cache type (known: int8, int4)",
                error(s + "evaluate: { kv_cache: [int8, int3] }\n").getMessage());
        assertEquals("evaluate.kv_cache[0]", error(s + "evaluate: { kv_cache: [f32] }\n").field());
        assertEquals("evaluate.kv_cache[1]", error(s + "evaluate: { kv_cache: [int4, int4] }\n").field());
        assertEquals("evaluate.kv_cache[0]", error(s + "evaluate: { kv_cache: [{ type: int8 }] }\n").field());
        assertEquals("evaluate.kv_cache", error(s + "evaluate: { kv_cache: int8 }\n").field());
    }

    @Test
    void yamlSyntaxErrorGivesLineAndColumn() {
        RecipeException e = error("stages:\n  - prune: { method: magnitude, sparsity: 0.5\n  - quantize: { method: rtn }\n");
        assertEquals("recipe", e.field());
        assertTrue(e.getMessage().matches("recipe: YAML syntax error at line \\d+, column \\d+: .+"), e.getMessage());
        RecipeException tabs = error("stages:\n\t- prune: { method: magnitude }\n");
        assertTrue(tabs.getMessage().contains("line 2"), tabs.getMessage());
    }

    @Test
    void duplicateKeyIsASyntaxError() {
        RecipeException e = error("stages:\n  - prune: { method: magnitude, method: wanda }\n");
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test
    void emptyOrScalarRecipeIsRefused() {
        assertEquals("recipe", error("").field());
        assertEquals("recipe", error("# nothing\n").field());
        assertEquals("recipe", error("just text").field());
    }
}
