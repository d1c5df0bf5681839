package io.shardwise.core.tokenizer;

import io.shardwise.core.model.Vocabulary;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * SentencePiece-style BPE from a tokenizer.json (Llama 2, Mistral) as HF tokenizers runs it: added tokens split out,
 * spaces become '▁' with a '▁' prefix (the Prepend normalizer, or Metaspace's prepend_scheme), one symbol per
 * character, unknown characters as their UTF-8 byte tokens {@code <0xHH>} (byte_fallback), then merges by rank.
 * Tokens hold ' ' where the file has '▁', as everywhere in Shardwise.
 */
public final class SentencePieceBpeTokenizer implements TextTokenizer {
    /** How the '▁' prefix is added: the names {@link HfTokenizerJson} gives {@link Vocabulary#preTokenizer()}. */
    public enum Prefix {
        /** Llama 2's normalizer Prepend("▁"): every text segment gets one, even one that starts with a space. */
        PREPEND("sp-prepend"),
        /** Metaspace prepend_scheme "always": unless the segment already starts with '▁'. */
        ALWAYS("metaspace-always"),
        /** Metaspace "first": only a segment at the very start of the text, unless it starts with '▁'. */
        FIRST("metaspace-first"),
        NEVER("metaspace-never");

        public final String preTokenizerName;

        Prefix(String name) {
            this.preTokenizerName = name;
        }

        public static Prefix byName(String name) {
            for (Prefix p : values()) if (p.preTokenizerName.equals(name)) return p;
            return null;
        }
    }

    private final Vocabulary vocab;
    private final Map<String, Integer> ids;
    private final BpeMerger merger;
    private final AddedTokens added;
    private final Prefix prefix;
    private final int[] byteIds = new int[256];
    private final int unk;

    public SentencePieceBpeTokenizer(Vocabulary vocab) {
        if (vocab.kind() != Vocabulary.Kind.SENTENCEPIECE) throw new IllegalArgumentException("not a SentencePiece vocabulary: " + vocab.kind());
        this.vocab = vocab;
        this.prefix = Prefix.byName(vocab.preTokenizer());
        if (prefix == null) throw new IllegalArgumentException("unknown SentencePiece prefix mode '" + vocab.preTokenizer() + "'");
        this.ids = new HashMap<>(vocab.size() * 2);
        int u = -1;
        for (int i = 0; i < vocab.size(); i++) {
            if (!vocab.isSpecial(i)) ids.putIfAbsent(vocab.tokens().get(i), i);
            if (vocab.tokenType(i) == Vocabulary.TYPE_UNKNOWN) u = i;
        }
        this.unk = u >= 0 ? u : vocab.tokens().indexOf("<unk>");
        this.merger = new BpeMerger(vocab.merges(), ids, s -> s.replace('\u2581', ' '), "SentencePiece BPE merges");
        this.added = new AddedTokens(vocab);
        for (int b = 0; b < 256; b++) byteIds[b] = ids.getOrDefault(String.format("<0x%02X>", b), -1);
    }

    @Override
    public Vocabulary vocabulary() {
        return vocab;
    }

    @Override
    public int[] encode(String text) {
        IntList out = new IntList();
        for (AddedTokens.Segment s : added.split(text)) {
            if (s.id() >= 0) {
                out.add(s.id());
                continue;
            }
            String t = s.text();
            boolean add = switch (prefix) {
                case PREPEND -> true;
                case ALWAYS -> !t.startsWith(" ");
                case FIRST -> s.start() == 0 && !t.startsWith(" ");
                case NEVER -> false;
            };
            encodeSegment(add ? " " + t : t, out);
        }
        return out.toArray();
    }

    private void encodeSegment(String t, IntList out) {
        IntList sym = new IntList();
        for (int i = 0; i < t.length(); ) {
            int cp = t.codePointAt(i);
            String ch = t.substring(i, i + Character.charCount(cp));
            Integer id = ids.get(ch);
            if (id != null) {
                sym.add(id);
            } else {
                byte[] bytes = ch.getBytes(StandardCharsets.UTF_8);
                boolean all = true;
                for (byte b : bytes) all &= byteIds[b & 0xFF] >= 0;
                if (all) {
                    for (byte b : bytes) sym.add(byteIds[b & 0xFF]);
                } else if (unk >= 0) {
                    sym.add(unk);
                } else {
                    throw new IllegalStateException("character U+" + Integer.toHexString(cp) + " has no token, no byte tokens and there is no <unk>");
                }
            }
            i += ch.length();
        }
        int[] s = sym.toArray();
        for (int id : merger.merge(s, s.length)) out.add(id);
    }

    @Override
    public String decode(int prevToken, int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean first = prevToken < 0 || prevToken == vocab.bos();
        for (int t : tokens) {
            String s = vocab.tokens().get(t);
            byte[] b = GgufByteToken.isByteToken(s) ? new byte[]{(byte) Integer.parseInt(s.substring(3, 5), 16)} : s.getBytes(StandardCharsets.UTF_8);
            int from = first && prefix != Prefix.NEVER && !vocab.isSpecial(t) && b.length > 0 && b[0] == ' ' ? 1 : 0;
            out.write(b, from, b.length - from);
            if (!vocab.isSpecial(t)) first = false;
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
