package io.shardwise.core.tokenizer;

import java.util.Arrays;

/** A growable int array, so encoders do not box every id. */
final class IntList {
    private int[] a = new int[16];
    private int n;

    void add(int v) {
        if (n == a.length) a = Arrays.copyOf(a, n * 2);
        a[n++] = v;
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
