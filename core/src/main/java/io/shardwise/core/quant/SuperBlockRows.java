package io.shardwise.core.quant;

import io.shardwise.core.tensor.GgmlType;

/** Argument checks shared by the 256-element super-block codecs, so each refuses bad shapes with the same clear message. */
final class SuperBlockRows {
    static final int QK_K = 256;

    private SuperBlockRows() {
    }

    /** Refuses a row length that is not a positive multiple of 256, or a count that is not whole rows. */
    static void checkQuantize(GgmlType type, int n, int rowLength) {
        if (rowLength <= 0 || rowLength % QK_K != 0) {
            throw new IllegalArgumentException(type + " needs rows that are a multiple of " + QK_K + " values, got a row of " + rowLength);
        }
        if (n < 0 || n % rowLength != 0) {
            throw new IllegalArgumentException(type + " quantizes whole rows of " + rowLength + " values, got " + n + " values");
        }
    }

    /** As {@link #checkQuantize}, and the importance matrix must hold one weight per column. */
    static void checkImportance(GgmlType type, int n, int rowLength, float[] importance) {
        checkQuantize(type, n, rowLength);
        if (importance.length != rowLength) {
            throw new IllegalArgumentException(type + " importance matrix needs one weight per column (" + rowLength + "), got " + importance.length);
        }
    }

    /** Refuses a dequantize range that does not cover whole super-blocks. */
    static void checkDequantize(GgmlType type, long firstElement, int n, int rowLength) {
        if (rowLength <= 0 || rowLength % QK_K != 0) {
            throw new IllegalArgumentException(type + " needs rows that are a multiple of " + QK_K + " values, got a row of " + rowLength);
        }
        if (firstElement < 0 || firstElement % QK_K != 0 || n < 0 || n % QK_K != 0) {
            throw new IllegalArgumentException(type + " reads whole blocks of " + QK_K + " values, got " + n + " values from element " + firstElement);
        }
    }
}
