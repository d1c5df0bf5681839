package io.shardwise.core.train;

import io.shardwise.core.runtime.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SyntheticGrammarTest {
    private final SyntheticGrammar grammar = new SyntheticGrammar();

    @Test
    void runCEncodeGivesOneTokenPerWordExactlyAsGenerated() {
        SyntheticGrammar.Corpus c = grammar.corpus(11, 20_000);
        int[] encoded = new Tokenizer(grammar.vocabulary()).encode(c.text());
        assertArrayEquals(c.tokens(), encoded);
        assertTrue(c.text().startsWith("Once upon a time, there was a little "), c.text().substring(0, 60));
    }

    @Test
    void theParserGivesEachGeneratedStoryItsDerivationProbability() {
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < 2000; i++) {
            SyntheticGrammar.Story s = grammar.story(r, i == 0);
            assertEquals(s.logProb(), grammar.logProbability(s.text().strip()), 1e-9, s.text());
        }
    }

    @Test
    void floorOfATextIsItsNllPerToken() {
        SyntheticGrammar.Corpus c = grammar.corpus(3, 30_000);
        assertEquals(c.floor(), grammar.floor(c.text()), 1e-12);
        // a fixed grammar: the floor is about the same for every seed, between 0.5 and 1.5 nats/token
        assertEquals(c.floor(), grammar.corpus(4, 30_000).floor(), 0.03);
        assertTrue(c.floor() > 0.5 && c.floor() < 1.5, "floor " + c.floor());
        System.out.printf("grammar floor %.4f nats/token (ppl %.3f), vocabulary %d tokens%n", c.floor(), Math.exp(c.floor()), grammar.vocabulary().size());
    }

    @Test
    void sameSeedSameCorpus() {
        assertEquals(grammar.corpus(9, 5000).text(), grammar.corpus(9, 5000).text());
    }

    @Test
    void textOutsideTheGrammarIsRefusedNamingTheSentence() {
        var e = assertThrows(IllegalArgumentException.class, () -> grammar.logProbability(
                "Once upon a time, there was a little girl named Lily. The dog flew away. The end."));
        assertTrue(e.getMessage().contains("The dog flew away"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> grammar.logProbability("Once upon a time, there was a little girl named Tom. She felt sad. The end."));
        assertThrows(IllegalArgumentException.class, () -> grammar.floor("\n\n"));
    }
}
