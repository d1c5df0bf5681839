package io.shardwise.core.train;

import io.shardwise.core.model.Vocabulary;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A small probabilistic grammar of children's stories, one story per line: an intro naming a girl
 * or a boy, body sentences drawn i.i.d. from weighted templates (continue with probability
 * {@value #CONTINUE}), then "The end.". Every story's exact probability is computable
 * ({@link #logProbability}), so the entropy of a text is known and a model's perplexity on it has a
 * floor: sum of -log p(story) over the number of tokens ({@link #floor}). Under {@link #vocabulary()}
 * each word, punctuation mark and newline is exactly one token.
 */
public final class SyntheticGrammar {
    /** Probability of another body sentence after each one. */
    public static final double CONTINUE = 0.8;

    private static final String[] INTRO = "Once upon a time , there was a little {KID} named {NAME} .".split(" ");
    private static final String[] END = {"The", "end", "."};
    private static final Map<String, List<String>> WORDS = new LinkedHashMap<>();
    private static final List<Template> TEMPLATES = new ArrayList<>();

    static {
        WORDS.put("GIRL", List.of("Lily", "Mia", "Sue", "Anna", "Lucy", "Emma"));
        WORDS.put("BOY", List.of("Tom", "Ben", "Max", "Sam", "Leo", "Jack"));
        WORDS.put("ACT", List.of("play", "run", "jump", "sing", "dance", "read", "swim", "draw"));
        WORDS.put("PLACE", List.of("park", "garden", "house", "forest", "yard", "school"));
        WORDS.put("ADJ", List.of("big", "small", "red", "blue", "shiny", "soft", "funny", "green"));
        WORDS.put("NOUN", List.of("ball", "cat", "dog", "bird", "box", "tree", "car", "doll", "kite", "cake"));
        WORDS.put("FRIEND", List.of("mom", "dad", "friend", "teacher"));
        WORDS.put("FEEL", List.of("happy", "sad", "tired", "excited"));
        t(4, "{S} liked to {ACT} in the {PLACE} .");
        t(3, "One day , {S} found a {ADJ} {NOUN} .");
        t(2, "One day , {S} found a {NOUN} in the {PLACE} .");
        t(3, "{S} played with {POSS} {NOUN} every day .");
        t(3, "The {NOUN} was very {ADJ} .");
        t(2, "{S} felt {FEEL} .");
        t(3, "{S} went to the {PLACE} with {POSS} {FRIEND} .");
        t(2, "{S} gave the {NOUN} to {POSS} {FRIEND} .");
        t(2, "{POSSCAP} {FRIEND} said it was {ADJ} .");
        t(1, "They had a lot of fun .");
        t(2, "{S} wanted to {ACT} with the {NOUN} .");
    }

    private record Template(double weight, String[] words) {
    }

    private static void t(double weight, String pattern) {
        TEMPLATES.add(new Template(weight, pattern.split(" ")));
    }

    /** A generated story: its line (with the trailing "\n"), its tokens and its exact log-probability. */
    public record Story(String text, int[] tokens, double logProb) {
    }

    /** A text of whole stories with its tokens (as run.c's encode gives them) and total -log p (nats). */
    public record Corpus(String text, int[] tokens, double nll) {
        /** The entropy floor in nats per token: no model's expected NLL per token is lower. */
        public double floor() {
            return nll / tokens.length;
        }
    }

    private final WordVocabulary vocab;
    private final double templateTotal;

    public SyntheticGrammar() {
        Set<String> spaced = new LinkedHashSet<>();
        for (String w : INTRO) if (!w.startsWith("{")) spaced.add(w);
        for (String w : END) spaced.add(w);
        WORDS.values().forEach(spaced::addAll);
        spaced.addAll(List.of("She", "He", "her", "his", "Her", "His", "girl", "boy"));
        for (Template t : TEMPLATES) for (String w : t.words) if (!w.startsWith("{")) spaced.add(w);
        spaced.removeAll(List.of(",", "."));
        vocab = new WordVocabulary(spaced, List.of(",", ".", "\n", INTRO[0]));
        templateTotal = TEMPLATES.stream().mapToDouble(Template::weight).sum();
    }

    public Vocabulary vocabulary() {
        return vocab.vocabulary();
    }

    /** Stories from {@code seed} until the text has at least {@code minTokens} tokens. */
    public Corpus corpus(long seed, int minTokens) {
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder text = new StringBuilder();
        List<int[]> parts = new ArrayList<>();
        int n = 0;
        double nll = 0;
        while (n < minTokens) {
            Story s = story(r, n == 0);
            text.append(s.text());
            parts.add(s.tokens());
            n += s.tokens().length;
            nll -= s.logProb();
        }
        int[] tokens = new int[n];
        int off = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, tokens, off, p.length);
            off += p.length;
        }
        return new Corpus(text.toString(), tokens, nll);
    }

    /** One story; {@code textStart} gives its first word the space run.c's dummy prefix adds. */
    public Story story(SplittableRandom r, boolean textStart) {
        List<String> words = new ArrayList<>();
        double[] logp = {0};
        boolean girl = r.nextBoolean();
        logp[0] += Math.log(0.5);
        String name = pick(r, WORDS.get(girl ? "GIRL" : "BOY"), logp);
        Map<String, String> vars = vars(girl, name);
        for (String w : INTRO) words.add(w.startsWith("{") ? vars.get(w) : w);
        do {
            double u = r.nextDouble() * templateTotal;
            Template chosen = TEMPLATES.getLast();
            for (Template t : TEMPLATES) {
                if ((u -= t.weight) < 0) {
                    chosen = t;
                    break;
                }
            }
            logp[0] += Math.log(chosen.weight / templateTotal);
            for (String w : chosen.words) {
                if (!w.startsWith("{")) words.add(w);
                else if (vars.containsKey(w)) words.add(vars.get(w));
                else if (w.equals("{S}")) words.add(r.nextBoolean() ? name : vars.get("{PRON}"));
                else words.add(pick(r, WORDS.get(w.substring(1, w.length() - 1)), logp));
                if (w.equals("{S}")) logp[0] += Math.log(0.5);
            }
            boolean more = r.nextDouble() < CONTINUE;
            logp[0] += Math.log(more ? CONTINUE : 1 - CONTINUE);
            if (!more) break;
        } while (true);
        words.addAll(List.of(END));
        return new Story(render(words), tokens(words, textStart), logp[0]);
    }

    private static Map<String, String> vars(boolean girl, String name) {
        return Map.of("{KID}", girl ? "girl" : "boy", "{NAME}", name, "{PRON}", girl ? "She" : "He",
                "{POSS}", girl ? "her" : "his", "{POSSCAP}", girl ? "Her" : "His");
    }

    /** Zipf-like choice: the i-th word has weight 1/(i+1). */
    private static String pick(SplittableRandom r, List<String> words, double[] logp) {
        double u = r.nextDouble() * harmonic(words.size());
        for (int i = 0; i < words.size(); i++) {
            if ((u -= 1.0 / (i + 1)) < 0 || i == words.size() - 1) {
                logp[0] += Math.log(1.0 / (i + 1) / harmonic(words.size()));
                return words.get(i);
            }
        }
        throw new AssertionError();
    }

    private static double zipf(List<String> words, String w) {
        int i = words.indexOf(w);
        return i < 0 ? 0 : 1.0 / (i + 1) / harmonic(words.size());
    }

    private static double harmonic(int n) {
        double h = 0;
        for (int i = 1; i <= n; i++) h += 1.0 / i;
        return h;
    }

    private static String render(List<String> words) {
        StringBuilder sb = new StringBuilder();
        for (String w : words) {
            if (!sb.isEmpty() && !w.equals(",") && !w.equals(".")) sb.append(' ');
            sb.append(w);
        }
        return sb.append('\n').toString();
    }

    private int[] tokens(List<String> words, boolean textStart) {
        int[] out = new int[words.size() + 1];
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            boolean bare = w.equals(",") || w.equals(".") || (i == 0 && !textStart);
            out[i] = vocab.id(bare ? w : " " + w);
        }
        out[words.size()] = vocab.id("\n");
        return out;
    }

    /**
     * The exact log-probability of one story line (without its "\n"), summing over every template
     * that could have produced each sentence.
     *
     * @throws IllegalArgumentException naming the sentence when the line is not a story of this grammar
     */
    public double logProbability(String line) {
        List<String> words = words(line);
        List<List<String>> sentences = new ArrayList<>();
        List<String> cur = new ArrayList<>();
        for (String w : words) {
            cur.add(w);
            if (w.equals(".")) {
                sentences.add(cur);
                cur = new ArrayList<>();
            }
        }
        if (!cur.isEmpty() || sentences.size() < 3) throw new IllegalArgumentException("not a story of the grammar (needs intro, body, end): " + line);
        List<String> intro = sentences.getFirst();
        if (intro.size() != INTRO.length) throw new IllegalArgumentException("story intro does not match: " + String.join(" ", intro));
        String kid = intro.get(9), name = intro.get(11);
        boolean girl = kid.equals("girl");
        double pName = zipf(WORDS.get(girl ? "GIRL" : "BOY"), name);
        Map<String, String> vars = vars(girl, name);
        List<String> expectIntro = new ArrayList<>();
        for (String w : INTRO) expectIntro.add(w.startsWith("{") ? vars.get(w) : w);
        if (pName == 0 || !(girl || kid.equals("boy")) || !intro.equals(expectIntro)) {
            throw new IllegalArgumentException("story intro does not match: " + String.join(" ", intro));
        }
        if (!sentences.getLast().equals(List.of(END))) throw new IllegalArgumentException("story does not end with 'The end.': " + line);
        double logp = Math.log(0.5) + Math.log(pName);
        int body = sentences.size() - 2;
        logp += (body - 1) * Math.log(CONTINUE) + Math.log(1 - CONTINUE);
        for (List<String> s : sentences.subList(1, sentences.size() - 1)) {
            double p = 0;
            for (Template t : TEMPLATES) p += t.weight / templateTotal * match(t, s, vars);
            if (p == 0) throw new IllegalArgumentException("sentence matches no template: " + String.join(" ", s));
            logp += Math.log(p);
        }
        return logp;
    }

    private static double match(Template t, List<String> s, Map<String, String> vars) {
        if (t.words.length != s.size()) return 0;
        double p = 1;
        for (int i = 0; i < s.size() && p > 0; i++) {
            String slot = t.words[i], w = s.get(i);
            if (!slot.startsWith("{")) p = slot.equals(w) ? p : 0;
            else if (vars.containsKey(slot)) p = vars.get(slot).equals(w) ? p : 0;
            else if (slot.equals("{S}")) p *= (w.equals(vars.get("{NAME}")) ? 0.5 : 0) + (w.equals(vars.get("{PRON}")) ? 0.5 : 0);
            else p *= zipf(WORDS.get(slot.substring(1, slot.length() - 1)), w);
        }
        return p;
    }

    private static List<String> words(String line) {
        List<String> out = new ArrayList<>();
        for (String w : line.strip().split(" +")) {
            String core = w;
            List<String> tail = new ArrayList<>();
            while (core.endsWith(",") || core.endsWith(".")) {
                tail.addFirst(core.substring(core.length() - 1));
                core = core.substring(0, core.length() - 1);
            }
            if (!core.isEmpty()) out.add(core);
            out.addAll(tail);
        }
        return out;
    }

    /**
     * The entropy floor of a text of whole stories, one per line: sum of -log p(story) over the
     * token count (one per word, punctuation mark and newline, as encode gives under {@link #vocabulary()}).
     */
    public double floor(String text) {
        double nll = 0;
        long tokens = 0;
        for (String line : text.split("\n")) {
            if (line.isBlank()) continue;
            nll -= logProbability(line);
            tokens += words(line).size() + 1;
        }
        if (tokens == 0) throw new IllegalArgumentException("text has no stories");
        return nll / tokens;
    }
}
