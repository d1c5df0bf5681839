package io.shardwise.core.tokenizer;

import io.shardwise.core.model.Vocabulary;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Splits text around the vocabulary's control and user-defined tokens (HF "added tokens"), leftmost-longest match
 * first, as HF tokenizers' AddedVocabulary does before the model sees the text.
 */
final class AddedTokens {
    /** A piece of text: either plain text to tokenize ({@code id} -1) or one added token. */
    record Segment(String text, int id, int start) {
    }

    private final Map<Integer, List<Integer>> byFirstChar = new HashMap<>();
    private final Vocabulary vocab;

    AddedTokens(Vocabulary vocab) {
        this.vocab = vocab;
        for (int i = 0; i < vocab.size(); i++) {
            String t = vocab.tokens().get(i);
            if (vocab.isSpecial(i) && !t.isEmpty()) byFirstChar.computeIfAbsent(t.codePointAt(0), k -> new ArrayList<>()).add(i);
        }
        Comparator<Integer> longestFirst = Comparator.comparingInt(i -> -vocab.tokens().get(i).length());
        byFirstChar.values().forEach(l -> l.sort(longestFirst));
    }

    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        if (byFirstChar.isEmpty()) {
            if (!text.isEmpty()) out.add(new Segment(text, -1, 0));
            return out;
        }
        int plainStart = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int hit = -1;
            List<Integer> cands = byFirstChar.get(cp);
            if (cands != null) {
                for (int id : cands) {
                    if (text.startsWith(vocab.tokens().get(id), i)) {
                        hit = id;
                        break;
                    }
                }
            }
            if (hit >= 0) {
                if (i > plainStart) out.add(new Segment(text.substring(plainStart, i), -1, plainStart));
                out.add(new Segment(vocab.tokens().get(hit), hit, i));
                i += vocab.tokens().get(hit).length();
                plainStart = i;
            } else {
                i += Character.charCount(cp);
            }
        }
        if (plainStart < text.length()) out.add(new Segment(text.substring(plainStart), -1, plainStart));
        return out;
    }
}
