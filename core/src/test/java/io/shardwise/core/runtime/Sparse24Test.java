package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The 2:4 kernels against each other and the dense ones. Order of summation: the scalar sparse dot adds each group's
 * two kept products in column order, groups in order; the scalar dense dot adds the same products in the same order
 * plus products 0 * x = +-0, which leave a float sum unchanged: the two are equal bit for bit. The vector kernel sums
 * first and second values in separate lanes, lane sums at the end (and the dense vector kernel in its own lanes), so
 * it agrees to rounding: within n * 2^-24 * sum |w x| (the standard bound for any summation order).
 */
class Sparse24Test {

    /** rows x in floats, each aligned group of 4 keeping 0, 1 or 2 random columns (2 mostly). */
    static float[] random24(SplittableRandom rnd, int rows, int in) {
        float[] v = new float[rows * in];
        for (int g = 0; g < v.length / 4; g++) {
            int kind = rnd.nextInt(10);
            int keep = kind == 0 ? 0 : kind == 1 ? 1 : 2;
            int a = rnd.nextInt(4), b = (a + 1 + rnd.nextInt(3)) % 4;
            if (keep >= 1) v[4 * g + a] = (float) (rnd.nextDouble() * 2 - 1) * (rnd.nextInt(50) == 0 ? 0x1p-20f : 1f); // some F16 subnormals
            if (keep == 2) v[4 * g + b] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return v;
    }

    static Linear linear(String name, GgmlType type, float[] v, int in, int rows) {
        Tensor t = TensorCodecs.quantize(name, new long[]{in, rows}, v, type);
        return new Linear(name, type, t.data(), in, rows);
    }

    private static float[] randomX(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextDouble() * 4 - 2);
        return x;
    }

    @Test
    void sparseKernelsAgreeWithEachOtherAndWithTheDenseOnesOnRandom24Matrices() {
        SplittableRandom rnd = new SplittableRandom(5);
        for (GgmlType type : new GgmlType[]{GgmlType.F32, GgmlType.F16, GgmlType.BF16}) {
            for (int in : new int[]{4, 60, 64, 148, 256, 2048}) {
                int rows = 19;
                Linear w = linear("w", type, random24(rnd, rows, in), in, rows);
                Sparse24Rows p = Sparse24Rows.pack(w);
                assertNotNull(p, type + " " + in);
                if (in % 64 == 0) {
                    // per 64 columns: 32 values and 16 position bytes, against 64 values
                    assertEquals(w.data().byteSize() * (type == GgmlType.F32 ? 9 : 5) / (type == GgmlType.F32 ? 16 : 8), p.byteSize(), type + " " + in);
                }
                float[] x = randomX(rnd, in);
                Activation a = new Activation();
                VectorRowKernels.INSTANCE.prepare(type, x, 0, in, a);
                float[] sv = new float[rows], ss = new float[rows], dv = new float[rows], ds = new float[rows];
                VectorRowKernels.INSTANCE.matvecSparse(p, 0, rows, a, sv, 0);
                ScalarRowKernels.INSTANCE.matvecSparse(p, 0, rows, a, ss, 0);
                VectorRowKernels.INSTANCE.matvec(type, w.data(), in, 0, rows, a, dv, 0);
                ScalarRowKernels.INSTANCE.matvec(type, w.data(), in, 0, rows, a, ds, 0);
                float[] wf = TensorCodecs.dequantize(new Tensor("w", type, new long[]{in, rows}, w.data()));
                for (int r = 0; r < rows; r++) {
                    double mag = 0;
                    for (int i = 0; i < in; i++) mag += Math.abs(wf[r * in + i] * x[i]);
                    double tol = in * 0x1p-24 * mag + 1e-30;
                    String at = type + " in " + in + " row " + r;
                    assertEquals(ds[r], ss[r], 0f, at + ": scalar sparse vs scalar dense, bit for bit (but the sign of a zero)");
                    assertEquals(ss[r], sv[r], tol, at + ": vector vs scalar sparse");
                    assertEquals(dv[r], sv[r], tol, at + ": vector sparse vs vector dense");
                }
            }
        }
    }

    @Test
    void batchedSparseEqualsOneTokenAtATimeAndSubRangesLandAtTheirOffset() {
        SplittableRandom rnd = new SplittableRandom(9);
        int in = 192, rows = 33, T = 5;
        Linear w = linear("w", GgmlType.F16, random24(rnd, rows, in), in, rows);
        Sparse24Rows p = Sparse24Rows.pack(w);
        for (RowKernels rk : new RowKernels[]{VectorRowKernels.INSTANCE, ScalarRowKernels.INSTANCE}) {
            Activation[] as = new Activation[T];
            float[] batched = new float[T * rows];
            for (int t = 0; t < T; t++) {
                as[t] = new Activation();
                rk.prepare(GgmlType.F16, randomX(rnd, in), 0, in, as[t]);
            }
            rk.matmulSparse(p, 3, rows, as, T, batched, rows);
            for (int t = 0; t < T; t++) {
                float[] one = new float[rows + 7];
                rk.matvecSparse(p, 3, rows, as[t], one, 7);
                for (int r = 3; r < rows; r++) assertEquals(one[7 + r - 3], batched[t * rows + r], rk + " token " + t + " row " + r);
            }
        }
    }

    @Test
    void matricesThatAreNot24StayDense() {
        SplittableRandom rnd = new SplittableRandom(2);
        int in = 64, rows = 8;
        float[] dense = randomX(rnd, in * rows);
        assertNull(Sparse24Rows.pack(linear("dense", GgmlType.F32, dense, in, rows)));
        float[] almost = random24(rnd, rows, in);
        almost[in * rows - 4] = 1f;
        almost[in * rows - 3] = 2f;
        almost[in * rows - 2] = 3f; // the last group of the last row keeps 3
        assertNull(Sparse24Rows.pack(linear("almost", GgmlType.F32, almost, in, rows)), "one group of 3 non-zeros");
        float[] negZeros = random24(rnd, rows, in);
        for (int i = 0; i < negZeros.length; i++) if (negZeros[i] == 0) negZeros[i] = -0f;
        assertNotNull(Sparse24Rows.pack(linear("negzero", GgmlType.F32, negZeros, in, rows)), "-0 is a zero");
        float[] odd = random24(rnd, 2, 64);
        assertNull(Sparse24Rows.pack(new Linear("odd", GgmlType.F32, MemorySegment.ofArray(toBytes(odd)), 2, 64)), "rows of 2 columns: no aligned groups");
        assertNull(Sparse24Rows.pack(linear("q8", GgmlType.Q8_0, random24(rnd, rows, in), in, rows)), "block-quantized types run their own kernels");
        float[] inf = random24(rnd, rows, in);
        inf[4 * 7] = Float.POSITIVE_INFINITY;
        inf[4 * 7 + 1] = inf[4 * 7 + 2] = inf[4 * 7 + 3] = 0;
        assertNull(Sparse24Rows.pack(linear("inf", GgmlType.F16, inf, in, rows)), "F16 with an infinity: the vector kernel converts finite halfs only");
        assertNotNull(Sparse24Rows.pack(linear("inf32", GgmlType.F32, inf, in, rows)), "F32 takes any value");
    }

    private static byte[] toBytes(float[] v) {
        byte[] b = new byte[v.length * 4];
        MemorySegment.copy(v, 0, MemorySegment.ofArray(b), Tensor.F32_LE, 0, v.length);
        return b;
    }

    @Test
    void aModelWith24WeightsPacksThemAndGivesTheDenseLogits() {
        LlamaModel m = TinyModels.random(TinyModels.config(false), 21);
        SplittableRandom rnd = new SplittableRandom(4);
        Map<String, Tensor> pruned = new LinkedHashMap<>();
        for (int l = 0; l < m.config().nLayers(); l++) {
            for (String name : TensorNames.blockMatrices(l)) {
                Tensor t = m.tensor(name);
                float[] v = random24(rnd, t.rows(), t.cols());
                pruned.put(name, TensorCodecs.quantize(name, t.shape(), v, l == 0 ? GgmlType.F32 : GgmlType.F16));
            }
        }
        LlamaModel sparse = m.withTensors(pruned);
        LlamaWeights packed = new LlamaWeights(sparse), plain = new LlamaWeights(sparse, false);
        assertEquals(14, packed.sparseStats().matrices(), "7 matrices per layer, the dense classifier stays dense");
        assertNull(packed.classifier.sparse());
        assertNotNull(packed.layers[1].w2().sparse());
        assertEquals(0, plain.sparseStats().matrices());
        int[] seq = {1, 5, 9, 13, 2, 40, 7, 7, 30, 11};
        for (Kernels k : new Kernels[]{VectorKernels.INSTANCE, ScalarKernels.INSTANCE}) {
            LlamaRuntime.Logits a = new LlamaRuntime(packed, k).newSession(16).forward(seq, 0, seq.length);
            LlamaRuntime.Logits b = new LlamaRuntime(plain, k).newSession(16).forward(seq, 0, seq.length);
            LlamaRuntime.Session dec = new LlamaRuntime(packed, k).newSession(16);
            for (int t = 0; t < seq.length; t++) {
                LlamaRuntime.Logits one = dec.forward(seq[t]);
                for (int v = 0; v < m.config().vocabSize(); v++) {
                    assertEquals(b.get(t, v), a.get(t, v), 1e-4f * (1 + Math.abs(b.get(t, v))), k + " prefill logit " + t + "," + v);
                    assertEquals(b.get(t, v), one.get(0, v), 1e-4f * (1 + Math.abs(b.get(t, v))), k + " decode logit " + t + "," + v);
                }
            }
        }
    }

    @Test
    void badActivationsAreRefusedNamingTheMatrix() {
        SplittableRandom rnd = new SplittableRandom(3);
        Sparse24Rows p = Sparse24Rows.pack(linear("blk.0.ffn_up.weight", GgmlType.F32, random24(rnd, 4, 64), 64, 4));
        Activation a = new Activation();
        VectorRowKernels.INSTANCE.prepare(GgmlType.F32, new float[32], 0, 32, a);
        for (RowKernels rk : new RowKernels[]{VectorRowKernels.INSTANCE, ScalarRowKernels.INSTANCE}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rk.matvecSparse(p, 0, 4, a, new float[4], 0));
            assertTrue(e.getMessage().contains("blk.0.ffn_up.weight"), e.getMessage());
            Activation ok = new Activation();
            rk.prepare(GgmlType.F32, new float[64], 0, 64, ok);
            assertThrows(IndexOutOfBoundsException.class, () -> rk.matvecSparse(p, 0, 5, ok, new float[5], 0));
            Activation q8 = new Activation();
            rk.prepare(GgmlType.Q8_0, new float[64], 0, 64, q8);
            assertThrows(IllegalArgumentException.class, () -> rk.matvecSparse(p, 0, 4, q8, new float[4], 0));
        }
        assertThrows(IllegalArgumentException.class, () -> new Sparse24Rows("x", GgmlType.Q8_0, MemorySegment.ofArray(new byte[0]), 64, 0));
    }
}
