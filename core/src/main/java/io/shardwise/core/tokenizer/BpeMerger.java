package io.shardwise.core.tokenizer;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.function.UnaryOperator;

/**
 * The BPE merge loop (Sennrich et al. 2016) by merge rank, as HF tokenizers' {@code bpe/word.rs merge_all}: repeatedly
 * merge the adjacent pair with the lowest rank, the leftmost on ties. Runs on a linked list with a priority queue.
 */
final class BpeMerger {
    /** (left id, right id) packed into a long, to (rank, merged id) packed likewise. */
    private final Map<Long, Long> pairs;

    /**
     * {@code merges} are "left right" strings in rank order; {@code part} maps each side to the vocabulary's spelling.
     * Throws naming {@code source} when a merge's sides or result are not tokens.
     */
    BpeMerger(List<String> merges, Map<String, Integer> ids, UnaryOperator<String> part, String source) {
        pairs = new HashMap<>(merges.size() * 2);
        for (int rank = 0; rank < merges.size(); rank++) {
            String m = merges.get(rank);
            int sp = m.indexOf(' ', 1);
            if (sp < 0 || sp == m.length() - 1) throw new IllegalArgumentException(source + ": merge #" + rank + " '" + m + "' is not 'left right'");
            String a = part.apply(m.substring(0, sp)), b = part.apply(m.substring(sp + 1));
            Integer ia = ids.get(a), ib = ids.get(b), merged = ids.get(a + b);
            if (ia == null || ib == null || merged == null) {
                throw new IllegalArgumentException(source + ": merge #" + rank + " '" + m + "' uses or makes a token that is not in the vocabulary");
            }
            pairs.putIfAbsent(key(ia, ib), key(rank, merged));
        }
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private record Candidate(int rank, int left, int leftId, int right, int rightId, int merged) {
    }

    /** Merges the first {@code n} ids of {@code tok} (modified in place) and returns the result. */
    int[] merge(int[] tok, int n) {
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        PriorityQueue<Candidate> queue = new PriorityQueue<>(Math.max(1, n), (x, y) ->
                x.rank != y.rank ? Integer.compare(x.rank, y.rank) : Integer.compare(x.left, y.left));
        for (int i = 0; i + 1 < n; i++) offer(queue, tok, i, i + 1);
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
            if (prev[c.left] >= 0) offer(queue, tok, prev[c.left], c.left);
            if (after >= 0) offer(queue, tok, c.left, after);
        }
        int[] out = new int[alive];
        int k = 0;
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out[k++] = tok[i];
        return out;
    }

    private void offer(PriorityQueue<Candidate> queue, int[] tok, int left, int right) {
        Long v = pairs.get(key(tok[left], tok[right]));
        if (v != null) queue.add(new Candidate((int) (v >>> 32), left, tok[left], right, tok[right], (int) (long) v));
    }
}
