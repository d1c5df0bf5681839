package io.shardwise.core.train;

import io.shardwise.core.model.Vocabulary;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A llama2.c-style vocabulary in which run.c's {@code encode()} yields one token per word:
 * {@code <unk>}=0, BOS=1, EOS=2, byte tokens {@code <0x00>..<0xFF>} at 3..258, then every character
 * used, then every prefix (two characters or more) of each word's token form, scored by its length.
 * Merging the highest score first, leftmost on ties, then grows each word one character at a time
 * from its start, and no pair across a word boundary is a token.
 */
public final class WordVocabulary {
    public static final int BYTE_OFFSET = 3;

    private final Vocabulary vocabulary;
    private final Map<String, Integer> ids = new HashMap<>();

    /**
     * @param spaced words that follow a space (their token is " " + word)
     * @param bare   tokens used as they are: punctuation, "\n", and words at the start of a line
     */
    public WordVocabulary(Collection<String> spaced, Collection<String> bare) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
        List<Float> scores = new ArrayList<>(List.of(0f, 0f, 0f));
        for (int b = 0; b < 256; b++) {
            tokens.add(String.format("<0x%02X>", b));
            scores.add(0f);
        }
        TreeSet<String> forms = new TreeSet<>();
        for (String w : spaced) forms.add(" " + w);
        forms.addAll(bare);
        TreeSet<String> chars = new TreeSet<>();
        forms.forEach(f -> f.codePoints().forEach(cp -> chars.add(Character.toString(cp))));
        for (String c : chars) {
            tokens.add(c);
            scores.add(1f);
        }
        TreeSet<String> prefixes = new TreeSet<>(Comparator.comparingInt(String::length).thenComparing(Comparator.naturalOrder()));
        for (String f : forms) {
            for (int end = 2; end <= f.length(); end++) prefixes.add(f.substring(0, end));
        }
        for (String p : prefixes) {
            tokens.add(p);
            scores.add((float) p.length());
        }
        float[] s = new float[scores.size()];
        int maxLen = 0;
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
            ids.putIfAbsent(tokens.get(i), i);
            maxLen = Math.max(maxLen, tokens.get(i).getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
        }
        this.vocabulary = new Vocabulary(List.copyOf(tokens), s, maxLen, 1, 2);
    }

    public Vocabulary vocabulary() {
        return vocabulary;
    }

    /** The id of a token string; throws for one the vocabulary lacks. */
    public int id(String token) {
        Integer id = ids.get(token);
        if (id == null) throw new IllegalArgumentException("vocabulary has no token '" + token.replace("\n", "\\n") + "'");
        return id;
    }
}
