package io.shardwise.core.runtime;

/**
 * One linear layer as the runtime runs it: {@code y = W x + B (A x)}. W ({@code dense}, packed as {@code sparse} when
 * it is 2:4 sparse) may be absent when the low-rank pair replaces it; the pair ({@code loraA}: in to rank,
 * {@code loraB}: rank to out) is absent for a plain layer. Either factor may be of any stored type.
 */
public record Projection(String name, Linear dense, Sparse24Rows sparse, Linear loraA, Linear loraB, int in, int out) {

    public Projection {
        if (dense == null && loraA == null) throw new IllegalArgumentException("layer " + name + " has neither a weight nor low-rank factors");
        if ((loraA == null) != (loraB == null)) throw new IllegalArgumentException("layer " + name + " has one low-rank factor without the other");
        if (sparse != null && dense == null) throw new IllegalArgumentException("layer " + name + ": a packed 2:4 form without its weight");
    }

    public boolean lowRank() {
        return loraA != null;
    }

    /** Rank of the low-rank pair (0 without one). */
    public int rank() {
        return loraA == null ? 0 : loraA.out();
    }
}
