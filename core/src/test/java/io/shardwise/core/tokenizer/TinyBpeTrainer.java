package io.shardwise.core.tokenizer;

import io.shardwise.core.model.Vocabulary;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Learns a small BPE vocabulary (most frequent pair first) from a text, to build test tokenizers of both kinds. */
final class TinyBpeTrainer {
    static final String CORPUS = """
            Once upon a time, there was a little girl named Lily. She loved to play outside in the park.
            One day, she saw a big, red ball. She didn't know whom it belonged to; they'll say it's Tom's.
            The numbers 12345 and 3.14159 were written 1,000 times. We've been there, I'm sure, you'd agree.
            café naïve résumé Ωmega straße 日本語のテキスト 한국어 Привет мир 😀 👍
            if (x == 42) { return y + 7; } // comments and    spaces\tand\ttabs
            """.repeat(3);

    private TinyBpeTrainer() {
    }

    /** Byte-level vocabulary: 256 byte characters, {@code nMerges} merges over {@code pre}'s pieces, then special tokens. */
    static Vocabulary byteLevel(PreTokenizer pre, int nMerges, boolean addBos) {
        List<List<String>> words = new ArrayList<>();
        for (String piece : pre.split(CORPUS)) {
            List<String> w = new ArrayList<>();
            for (char c : ByteLevelAlphabet.encode(piece.getBytes(java.nio.charset.StandardCharsets.UTF_8)).toCharArray()) w.add(String.valueOf(c));
            words.add(w);
        }
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(String.valueOf(ByteLevelAlphabet.charOf(b)));
        List<String> merges = learn(words, tokens, nMerges);
        int n = tokens.size();
        tokens.addAll(List.of("<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<tool>"));
        int[] types = new int[tokens.size()];
        Arrays.fill(types, Vocabulary.TYPE_NORMAL);
        types[n] = types[n + 1] = types[n + 2] = Vocabulary.TYPE_CONTROL;
        types[n + 3] = Vocabulary.TYPE_USER_DEFINED;
        return new Vocabulary(tokens, new float[tokens.size()], 32, n, n + 1, Vocabulary.Kind.BYTE_LEVEL_BPE, merges, types, pre.ggufName, addBos);
    }

    /** SentencePiece-style vocabulary: &lt;unk&gt; &lt;s&gt; &lt;/s&gt;, 256 byte tokens, the corpus' characters (not all), merges. */
    static Vocabulary sentencePiece(String prefixMode, int nMerges) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) tokens.add(String.format("<0x%02X>", b));
        String text = "\u2581" + CORPUS.replace(' ', '\u2581');
        List<List<String>> words = new ArrayList<>();
        List<String> w = new ArrayList<>();
        text.codePoints().forEach(cp -> w.add(Character.toString(cp)));
        words.add(w);
        for (String ch : new java.util.LinkedHashSet<>(w)) if (!ch.equals("日") && !ch.equals("😀")) tokens.add(ch); // some characters only as bytes
        words.get(0).replaceAll(s -> tokens.contains(s) ? s : "?");
        List<String> merges = learn(words, tokens, nMerges);
        int[] types = new int[tokens.size()];
        Arrays.fill(types, Vocabulary.TYPE_NORMAL);
        types[0] = Vocabulary.TYPE_UNKNOWN;
        types[1] = types[2] = Vocabulary.TYPE_CONTROL;
        for (int b = 0; b < 256; b++) types[3 + b] = Vocabulary.TYPE_BYTE;
        List<String> spaced = tokens.stream().map(t -> t.replace('\u2581', ' ')).toList();
        return new Vocabulary(spaced, new float[tokens.size()], 32, 1, 2, Vocabulary.Kind.SENTENCEPIECE, merges, types, prefixMode, true);
    }

    private static List<String> learn(List<List<String>> words, List<String> tokens, int nMerges) {
        List<String> merges = new ArrayList<>();
        for (int m = 0; m < nMerges; m++) {
            Map<String, Integer> counts = new LinkedHashMap<>();
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i).equals("?") || w.get(i + 1).equals("?")) continue;
                    counts.merge(w.get(i) + " " + w.get(i + 1), 1, Integer::sum);
                }
            }
            String best = null;
            int bestCount = 1;
            for (Map.Entry<String, Integer> e : counts.entrySet()) {
                if (e.getValue() > bestCount && !merges.contains(e.getKey())) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best == null) break;
            merges.add(best);
            String a = best.substring(0, best.indexOf(' ')), b = best.substring(best.indexOf(' ') + 1);
            if (!tokens.contains(a + b)) tokens.add(a + b);
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i).equals(a) && w.get(i + 1).equals(b)) {
                        w.set(i, a + b);
                        w.remove(i + 1);
                    }
                }
            }
        }
        return merges;
    }
}
