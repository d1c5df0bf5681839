package io.shardwise.core.synth;

import io.shardwise.core.model.Vocabulary;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A SentencePiece-style vocabulary of any size for synthetic models: {@code <unk>}, {@code <s>}, {@code </s>},
 * the 256 byte tokens {@code <0xHH>}, every printable ASCII character, then pieces grown one lowercase letter at
 * a time (so every piece's prefix is a piece and BPE merges reach it), scored so that shorter, earlier pieces
 * merge first. Any text encodes (bytes fall back to byte tokens) and decodes back.
 */
public final class SyntheticVocabulary {
    /** Special and byte tokens plus printable ASCII: the smallest vocabulary this makes. */
    public static final int MIN_SIZE = 3 + 256 + 95;

    private SyntheticVocabulary() {
    }

    public static Vocabulary of(int size) {
        if (size < MIN_SIZE) throw new IllegalArgumentException("a synthetic vocabulary needs at least " + MIN_SIZE + " tokens, asked for " + size);
        Set<String> pieces = new LinkedHashSet<>();
        pieces.add("<unk>");
        pieces.add("<s>");
        pieces.add("</s>");
        for (int b = 0; b < 256; b++) pieces.add(String.format("<0x%02X>", b));
        List<String> level = new ArrayList<>();
        for (char c = ' '; c <= '~'; c++) {
            pieces.add(String.valueOf(c));
            level.add(String.valueOf(c));
        }
        while (pieces.size() < size) {
            List<String> next = new ArrayList<>();
            for (String p : level) {
                for (char c = 'a'; c <= 'z' && pieces.size() < size; c++) {
                    if (pieces.add(p + c)) next.add(p + c);
                }
                if (pieces.size() >= size) break;
            }
            level = next;
        }
        List<String> tokens = new ArrayList<>(pieces);
        float[] scores = new float[size];
        int maxLen = 1;
        for (int i = 0; i < size; i++) {
            scores[i] = i < 3 + 256 ? 0f : -(i - (3 + 256));
            maxLen = Math.max(maxLen, tokens.get(i).length());
        }
        return new Vocabulary(tokens, scores, maxLen, 1, 2);
    }
}
