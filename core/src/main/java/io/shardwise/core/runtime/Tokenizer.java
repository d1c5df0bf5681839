package io.shardwise.core.runtime;

import io.shardwise.core.model.Vocabulary;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece-BPE encoding and decoding exactly as llama2.c's run.c {@code encode()} and
 * {@code decode()} do them: a dummy-prefix space token, one token per UTF-8 code point (else its
 * bytes as byte tokens, id = byte + 3), then repeatedly merge the adjacent pair whose merged
 * string has the highest score, the leftmost pair on ties. No BOS/EOS is added.
 * The merge loop runs on a linked list with a priority queue, O(n log n) instead of run.c's O(n^2).
 */
public final class Tokenizer implements io.shardwise.core.tokenizer.TextTokenizer {
    private static final int BYTE_TOKEN_OFFSET = 3;

    private final Vocabulary vocab;
    private final Map<String, Integer> ids;
    private final byte[][] pieces;
    /** Token id of each single ASCII character, or -1. */
    private final int[] ascii = new int[128];

    public Tokenizer(Vocabulary vocab) {
        this.vocab = vocab;
        List<String> tokens = vocab.tokens();
        this.ids = new HashMap<>(tokens.size() * 2);
        this.pieces = new byte[tokens.size()][];
        for (int i = 0; i < tokens.size(); i++) {
            ids.putIfAbsent(tokens.get(i), i);
            pieces[i] = piece(tokens.get(i));
        }
        for (int c = 0; c < 128; c++) ascii[c] = ids.getOrDefault(String.valueOf((char) c), -1);
    }

    public Vocabulary vocabulary() {
        return vocab;
    }

    public int bos() {
        return vocab.bos();
    }

    public int eos() {
        return vocab.eos();
    }

    public int[] encode(String text) {
        return encode(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Encodes UTF-8 bytes as they are (run.c reads a C string of bytes). */
    public int[] encode(byte[] text) {
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        int[] tokens = new int[text.length + 1];
        int n = 0;
        if (text.length > 0) tokens[n++] = ascii[' '] >= 0 ? ascii[' '] : ' ' + BYTE_TOKEN_OFFSET;
        for (int i = 0; i < text.length; ) {
            int len = 1;
            // a code point is the lead byte plus up to 3 continuation bytes (run.c's str_len < 4 rule)
            while (len < 4 && i + len < text.length && (text[i + len] & 0xC0) == 0x80) len++;
            int id = len == 1 && text[i] >= 0 ? ascii[text[i]] : lookup(utf8, text, i, len);
            if (id >= 0) {
                tokens[n++] = id;
            } else {
                for (int k = 0; k < len; k++) tokens[n++] = (text[i + k] & 0xFF) + BYTE_TOKEN_OFFSET;
            }
            i += len;
        }
        return merge(tokens, n);
    }

    /** The id of the token whose string is these bytes, or -1 (invalid UTF-8 never matches). */
    private int lookup(CharsetDecoder utf8, byte[] s, int off, int len) {
        String str;
        try {
            str = utf8.reset().decode(ByteBuffer.wrap(s, off, len)).toString();
        } catch (CharacterCodingException e) {
            return -1;
        }
        Integer id = ids.get(str);
        return id == null ? -1 : id;
    }

    /** Vocabularies up to this size memoize pairs in a dense table (4 MiB at most), larger ones in a map. */
    private static final int DENSE_PAIRS_MAX_VOCAB = 1024;

    /** Merged ids of (left, right) pairs, looked up once per encode call: -1 = no merge, -2 = not looked up yet. */
    private final class PairCache {
        private final int[] dense;
        private final Map<Long, Integer> sparse;

        PairCache() {
            int v = vocab.size();
            dense = v <= DENSE_PAIRS_MAX_VOCAB ? new int[v * v] : null;
            if (dense != null) Arrays.fill(dense, -2);
            sparse = dense == null ? new HashMap<>() : null;
        }

        int merged(int left, int right) {
            if (dense == null) return mergedId(sparse, left, right);
            int k = left * vocab.size() + right;
            int m = dense[k];
            if (m == -2) {
                Integer id = ids.get(vocab.tokens().get(left) + vocab.tokens().get(right));
                dense[k] = m = id == null ? -1 : id;
            }
            return m;
        }
    }

    private int mergedId(Map<Long, Integer> pairs, int left, int right) {
        long key = ((long) left << 32) | (right & 0xFFFFFFFFL);
        Integer cached = pairs.get(key);
        if (cached != null) return cached;
        Integer id = ids.get(vocab.tokens().get(left) + vocab.tokens().get(right));
        int merged = id == null ? -1 : id;
        pairs.put(key, merged);
        return merged;
    }

    /** A merge candidate: the pair starting at node {@code left}, valid while both nodes still hold these ids. */
    private record Candidate(float score, int left, int leftId, int right, int rightId, int merged) {
    }

    private int[] merge(int[] tok, int n) {
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        float[] scores = vocab.scores();
        PairCache pairs = new PairCache(); // per call, so encode is thread-safe
        // run.c keeps the first pair with score > best (plain float compare: -0.0 ties 0.0), so rank by score, then position
        PriorityQueue<Candidate> queue = new PriorityQueue<>(Math.max(1, n), (a, b) ->
                a.score > b.score ? -1 : a.score < b.score ? 1 : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) offer(queue, pairs, tok, i, i + 1, scores);
        int alive = n;
        while (!queue.isEmpty()) {
            Candidate c = queue.poll();
            if (tok[c.left] != c.leftId || next[c.left] != c.right || tok[c.right] != c.rightId) continue;
            tok[c.left] = c.merged;
            int after = next[c.right];
            next[c.left] = after;
            if (after >= 0) prev[after] = c.left;
            tok[c.right] = -1;
            alive--;
            if (prev[c.left] >= 0) offer(queue, pairs, tok, prev[c.left], c.left, scores);
            if (after >= 0) offer(queue, pairs, tok, c.left, after, scores);
        }
        int[] out = new int[alive];
        int k = 0;
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out[k++] = tok[i];
        return out;
    }

    private void offer(PriorityQueue<Candidate> queue, PairCache pairs, int[] tok, int left, int right, float[] scores) {
        int merged = pairs.merged(tok[left], tok[right]);
        if (merged >= 0 && scores[merged] > -1e10f) {
            queue.add(new Candidate(scores[merged], left, tok[left], right, tok[right], merged));
        }
    }

    /**
     * The bytes run.c's {@code decode(prev, token)} prints: the token's string, without its leading
     * space right after BOS, and a {@code <0xHH>} byte token as that one byte.
     */
    public byte[] decodeBytes(int prevToken, int token) {
        byte[] p = pieces[token];
        if (prevToken == vocab.bos() && p.length > 0 && p[0] == ' ') return Arrays.copyOfRange(p, 1, p.length);
        return p;
    }

    /** {@link #decodeBytes} as text; a lone byte of a multi-byte character decodes to U+FFFD, so join bytes when that matters. */
    public String decode(int prevToken, int token) {
        return new String(decodeBytes(prevToken, token), StandardCharsets.UTF_8);
    }

    /** The text of a token sequence as run.c would print it, starting after {@code prevToken}. */
    public String decode(int prevToken, int[] tokens) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int prev = prevToken;
        for (int t : tokens) {
            out.writeBytes(decodeBytes(prev, t));
            prev = t;
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static byte[] piece(String token) {
        if (token.length() == 6 && token.startsWith("<0x") && token.endsWith(">")) {
            try {
                return new byte[]{(byte) Integer.parseInt(token.substring(3, 5), 16)};
            } catch (NumberFormatException e) {
                // not a byte token after all: fall through to its text
            }
        }
        return token.getBytes(StandardCharsets.UTF_8);
    }
}
