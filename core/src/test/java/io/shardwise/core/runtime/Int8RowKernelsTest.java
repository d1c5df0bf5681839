package io.shardwise.core.runtime;

import io.shardwise.core.quant.RowInt8Codec;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.RowInt8Type;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The int8 x int8 row kernels (W8A8, LLM.int8()): vector twin equal to the scalar twin bit for bit (integer sums are
 * exact, the float tail is shared), both equal to a float dot of the dequantized weights with the int8-quantized
 * activation, and within the activation's quantization error of the float dot.
 */
class Int8RowKernelsTest {
    private static final RowKernels V = VectorRowKernels.INSTANCE, S = ScalarRowKernels.INSTANCE;
    private final SplittableRandom rnd = new SplittableRandom(5);

    private float[] gaussian(int n, double scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        return x;
    }

    /** Rows of type I8_F16X<cols.length> quantized from gaussian weights. */
    private MemorySegment rows(int n, int rows, int[] cols) {
        RowInt8Type t = new RowInt8Type(cols.length);
        MemorySegment w = MemorySegment.ofArray(new byte[Math.toIntExact(t.byteSize(new long[]{n, rows}))]);
        RowInt8Codec.quantize(gaussian(n * rows, 0.05), 0, n * rows, n, cols, w, 0);
        return w;
    }

    private static float[] dequantized(RowInt8Type t, MemorySegment w, int n, int rows) {
        float[] d = new float[n * rows];
        TensorCodecs.codec(t).dequantize(w, 0, n * rows, n, d, 0);
        return d;
    }

    /** Outlier columns spread over the row (ascending). */
    private static int[] columns(int n, int k) {
        int[] c = new int[k];
        for (int i = 0; i < k; i++) c[i] = (int) ((long) (2 * i + 1) * n / (2 * k));
        return c;
    }

    @Test
    void vectorEqualsScalarExactlyAndBothAreTheInt8ActivationsDot() {
        for (int k : new int[]{0, 1, 3}) {
            for (int n : new int[]{5, 17, 64, 100, 172, 288, 1000, 4096}) {
                RowInt8Type t = new RowInt8Type(k);
                int rows = 6;
                int[] cols = columns(n, k);
                MemorySegment w = rows(n, rows, cols);
                float[] x = gaussian(n, 1);
                for (int c : cols) x[c] *= 40; // activation outliers, as LLM.int8() keeps in fp16
                Activation as = new Activation(), av = new Activation();
                S.prepare(t, x, 0, n, as);
                V.prepare(t, x, 0, n, av);
                assertEquals(t, av.kind(), "the activation is int8 for row-int8 weights, not floats");
                float[] ys = new float[rows], yv = new float[rows];
                S.matvec(t, w, n, 0, rows, as, ys, 0);
                V.matvec(t, w, n, 0, rows, av, yv, 0);
                float[] deq = dequantized(t, w, n, rows);
                double xScale = as.scale;
                for (int r = 0; r < rows; r++) {
                    String at = t + " n=" + n + " row " + r;
                    assertEquals(Float.floatToRawIntBits(ys[r]), Float.floatToRawIntBits(yv[r]), at + ": vector " + yv[r] + " scalar " + ys[r]);
                    double int8Dot = 0, floatDot = 0, abs = 0, absW = 0;
                    for (int i = 0; i < n; i++) {
                        int8Dot += (double) deq[r * n + i] * as.value(i);
                        floatDot += (double) deq[r * n + i] * x[i];
                        abs += Math.abs((double) deq[r * n + i] * as.value(i));
                        absW += Math.abs(deq[r * n + i]);
                    }
                    assertEquals(int8Dot, ys[r], 1e-6 * abs + 1e-30, at + " vs the int8 activation's dot");
                    // each non-outlier activation is off by at most half its step
                    assertEquals(floatDot, ys[r], 0.5 * xScale * absW * 1.0001 + 1e-6 * abs, at + " vs the float dot");
                }
                for (int c : cols) assertEquals(x[c], as.value(c), "outlier columns keep the float activation");
            }
        }
    }

    @Test
    void theActivationScaleLeavesTheOutlierColumnsOut() {
        int n = 64;
        int[] cols = {7, 40};
        MemorySegment w = rows(n, 2, cols);
        float[] x = gaussian(n, 1);
        x[7] = 500;
        x[40] = -300;
        float amax = 0;
        for (int i = 0; i < n; i++) if (i != 7 && i != 40) amax = Math.max(amax, Math.abs(x[i]));
        for (RowKernels k : List.of(S, V)) {
            Activation a = new Activation();
            k.prepare(new RowInt8Type(2), x, 0, n, a);
            k.matvec(new RowInt8Type(2), w, n, 0, 2, a, new float[2], 0);
            assertEquals(amax / 127f, a.scale);
            assertEquals(0, a.q[7]);
            assertEquals(500f, a.value(7));
            // I8_SYM_CH: one scale over everything, the outlier crushes the rest
            k.prepare(RowInt8Type.I8_SYM_CH, x, 0, n, a);
            assertEquals(500f / 127f, a.scale);
        }
    }

    @Test
    void batchedMatmulEqualsMatvecPerToken() {
        int n = 172, rows = 9, T = 4, ldy = 11;
        for (int k : new int[]{0, 2}) {
            RowInt8Type t = new RowInt8Type(k);
            MemorySegment w = rows(n, rows, columns(n, k));
            for (RowKernels kern : List.of(S, V)) {
                Activation[] as = new Activation[T];
                float[] y = new float[T * ldy];
                for (int tok = 0; tok < T; tok++) kern.prepare(t, gaussian(n, 1), 0, n, as[tok] = new Activation());
                kern.matmul(t, w, n, 1, rows, as, T, y, ldy);
                for (int tok = 0; tok < T; tok++) {
                    float[] one = new float[rows - 1];
                    kern.matvec(t, w, n, 1, rows, as[tok], one, 0);
                    for (int r = 1; r < rows; r++) assertEquals(one[r - 1], y[tok * ldy + r], t + " token " + tok + " row " + r);
                    assertEquals(0f, y[tok * ldy]);
                }
            }
        }
    }

    @Test
    void anActivationReusedForRowsWithOtherOutlierColumnsIsQuantizedAgain() {
        int n = 96;
        RowInt8Type t = new RowInt8Type(2);
        MemorySegment w1 = rows(n, 3, new int[]{3, 50}), w2 = rows(n, 3, new int[]{10, 90});
        float[] x = gaussian(n, 1);
        x[3] = 80;
        x[90] = -60;
        for (RowKernels k : List.of(S, V)) {
            Activation shared = new Activation();
            k.prepare(t, x, 0, n, shared);
            float[] a1 = new float[3], a2 = new float[3], f1 = new float[3], f2 = new float[3];
            k.matvec(t, w1, n, 0, 3, shared, a1, 0);
            k.matvec(t, w2, n, 0, 3, shared, a2, 0);
            Activation fresh = new Activation();
            k.prepare(t, x, 0, n, fresh);
            k.matvec(t, w1, n, 0, 3, fresh, f1, 0);
            k.prepare(t, x, 0, n, fresh);
            k.matvec(t, w2, n, 0, 3, fresh, f2, 0);
            for (int r = 0; r < 3; r++) {
                assertEquals(f1[r], a1[r]);
                assertEquals(f2[r], a2[r]);
            }
        }
    }

    @Test
    void rowInt8TypesTakeTheNativeInt8PathNotTheSlowOne() {
        for (RowInt8Type t : List.of(RowInt8Type.I8_SYM_CH, new RowInt8Type(4))) {
            assertTrue(WeightRows.isNative(t), t + " is dotted natively");
            assertEquals(t, WeightRows.activationType(t));
            // the slow path dots dequantized rows with the float activation; the int8 path must differ from that
            int n = 256;
            MemorySegment w = rows(n, 1, columns(n, t.outliers()));
            float[] x = gaussian(n, 1);
            Activation a = new Activation();
            RowKernels.preferred().prepare(t, x, 0, n, a);
            float[] y = new float[1];
            RowKernels.preferred().matvec(t, w, n, 0, 1, a, y, 0);
            float[] deq = dequantized(t, w, n, 1);
            assertNotEquals(ScalarKernels.INSTANCE.dot(deq, 0, x, 0, n), y[0], "float activation result");
        }
    }

    @Test
    void misuseFailsWithClearErrors() {
        int n = 64;
        MemorySegment w = rows(n, 2, new int[]{1, 2});
        Activation a = new Activation();
        for (RowKernels k : List.of(S, V)) {
            k.prepare(RowInt8Type.I8_SYM_CH, gaussian(n, 1), 0, n, a);
            var e = assertThrows(IllegalArgumentException.class, () -> k.matvec(new RowInt8Type(2), w, n, 0, 2, a, new float[2], 0));
            assertTrue(e.getMessage().contains("I8_F16X2") && e.getMessage().contains("I8_SYM_CH"), e.getMessage());
            k.prepare(GgmlType.F32, gaussian(n, 1), 0, n, a);
            assertThrows(IllegalArgumentException.class, () -> k.matvec(RowInt8Type.I8_SYM_CH, w, n, 0, 1, a, new float[1], 0));
            // a corrupt outlier index in the row
            MemorySegment bad = MemorySegment.ofArray(w.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            bad.set(WeightRows.I32, 4 + n, 9999);
            k.prepare(new RowInt8Type(2), gaussian(n, 1), 0, n, a);
            e = assertThrows(IllegalArgumentException.class, () -> k.matvec(new RowInt8Type(2), bad, n, 0, 1, a, new float[1], 0));
            assertTrue(e.getMessage().contains("9999"), e.getMessage());
        }
    }
}
