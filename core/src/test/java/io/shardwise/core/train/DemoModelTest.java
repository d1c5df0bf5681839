package io.shardwise.core.train;

import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.runtime.Perplexity;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoModelTest {
    /** A recipe small enough for a unit test; the real one runs in {@link #defaultRecipeLandsNearTheFloor}. */
    static final DemoModel.Recipe TINY = new DemoModel.Recipe(32, 64, 2, 4, 2, 64,
            new LlamaPretraining.Settings(60, 8, 1e-2, 10, 0.1, 7), 40_000, 4_000);

    @Test
    void trainsOnceCachesAtomicallyAndLoadsAsALlama2cCheckpoint(@TempDir Path cache) throws Exception {
        List<String> log = new ArrayList<>();
        DemoModel d = DemoModel.ensure(cache, log::add, TINY);
        assertTrue(log.stream().anyMatch(m -> m.contains("held-out NLL")), String.join("\n", log));
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel m = Llama2cCheckpoint.read(d.model(), Llama2cCheckpoint.findTokenizer(d.model(), 571), arena);
            assertEquals(d.tokenizer(), Llama2cCheckpoint.findTokenizer(d.model(), m.config().vocabSize()));
            assertEquals(new SyntheticGrammar().vocabulary().tokens(), m.vocabulary().tokens());
            double nll = Perplexity.evaluateFile(m, d.evalText(), 0).meanNll();
            assertEquals(d.evalNll(), nll, 1e-6);
        }
        // 60 steps learn the story frame: far below a uniform guess, still above the entropy floor
        assertTrue(d.evalNll() < Math.log(571) / 2 && d.evalNll() > d.floorNll(), d.evalNll() + " vs floor " + d.floorNll());
        assertEquals(new SyntheticGrammar().floor(Files.readString(d.evalText())), d.floorNll(), 1e-12);
        // only the finished entry, no temporary directory left behind
        try (var s = Files.list(cache)) {
            assertEquals(List.of("demo-" + TINY.key()), s.map(p -> p.getFileName().toString()).toList());
        }
        List<String> again = new ArrayList<>();
        assertEquals(d, DemoModel.ensure(cache, again::add, TINY));
        assertTrue(again.isEmpty(), "second call trained again: " + again);
    }

    @Test
    void aDayOldTemporaryOfAKilledRunIsRemovedAFreshOneIsKept(@TempDir Path cache) throws Exception {
        Path stale = Files.createDirectories(cache.resolve(".tmp-demo-x-1")), fresh = Files.createDirectories(cache.resolve(".tmp-demo-x-2"));
        Files.writeString(stale.resolve("train.txt"), "partial");
        Files.setLastModifiedTime(stale, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 2 * 86_400_000L));
        DemoModel.ensure(cache, m -> { }, new DemoModel.Recipe(16, 32, 1, 2, 1, 32, new LlamaPretraining.Settings(2, 2, 1e-2, 1, 0.1, 3), 2_000, 500));
        assertTrue(!Files.exists(stale) && Files.exists(fresh));
    }

    @Test
    void sameRecipeSameWeights(@TempDir Path a, @TempDir Path b) throws Exception {
        DemoModel.Recipe r = new DemoModel.Recipe(16, 32, 1, 2, 1, 32, new LlamaPretraining.Settings(5, 2, 1e-2, 1, 0.1, 3), 5_000, 1_000);
        DemoModel x = DemoModel.ensure(a, m -> { }, r), y = DemoModel.ensure(b, m -> { }, r);
        assertEquals(-1, Files.mismatch(x.model(), y.model()));
    }

    /** The real demo model (1-2 minutes): run with -Dshardwise.demo.full=true. */
    @Test
    void defaultRecipeLandsNearTheFloor(@TempDir Path cache) throws Exception {
        Assumptions.assumeTrue(Boolean.getBoolean("shardwise.demo.full"), "full demo training skipped (set -Dshardwise.demo.full=true)");
        DemoModel d = DemoModel.ensure(cache, System.out::println);
        System.out.printf("demo: trained in %.1f s, held-out ppl %.4f, floor ppl %.4f%n", d.trainMillis() / 1e3, d.evalPpl(), d.floorPpl());
        assertTrue(d.evalNll() > d.floorNll() && d.evalNll() < d.floorNll() + 0.06, d.evalNll() + " vs floor " + d.floorNll());
    }
}
