package io.shardwise.core.runtime;

import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.tensor.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The KV caches: KIVI's int8/int4 round trip, its float32 residual, and the runtime option (issue #5). */
class KvCacheTest {
    /** kvDim 16 (2 kv heads of 8), 4 query heads, seq_len 300. */
    private static final LlamaConfig C = new LlamaConfig(32, 40, 2, 4, 2, 48, 300, 10000f, 1e-5f, true);

    private static float[][] random(int n, int width, long seed, int outlierChannel) {
        SplittableRandom r = new SplittableRandom(seed);
        float[][] x = new float[n][width];
        for (float[] row : x) for (int j = 0; j < width; j++) row[j] = (float) (r.nextGaussian() * (j == outlierChannel ? 40 : 1));
        return x;
    }

    private static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    @ParameterizedTest
    @EnumSource(value = KvCacheType.class, names = {"INT8", "INT4"})
    void keysPerChannelAndValuesPerTokenComeBackWithinHalfAStep(KvCacheType type) {
        int group = 8, n = 37, kvDim = C.kvDim(), hs = C.headSize(), levels = (1 << type.bits()) - 1;
        float[][] k = random(n, kvDim, 1, 3), v = random(n, kvDim, 2, 12); // an outlier key channel and value channel
        QuantizedKvCache cache = new QuantizedKvCache(type, group, C, 40);
        for (int p = 0; p < n; p++) {
            cache.store(1, p, k[p], 0, v[p], 0);
            if (p % 5 == 4) cache.endBatch(1); // batches of 5: the residual is trimmed between them
        }
        KvCache.Reader r = cache.reader();
        int stride = cache.stride(), complete = n / group * group;
        double worstKey = 0, worstValue = 0;
        for (int h = 0; h < C.nKvHeads(); h++) {
            r.head(1, h);
            r.prepare(n - 1, 1);
            for (int d = 0; d < hs; d++) {
                int j = h * hs + d;
                for (int p = 0; p < n; p++) {
                    float key = r.keys()[r.keysOffset() + d * stride + p], value = r.values()[r.valuesOffset() + d * stride + p];
                    if (p >= complete) { // the open group: float32 as stored
                        assertEquals(k[p][j], key, "key " + j + " at " + p);
                        assertEquals(v[p][j], value, "value " + j + " at " + p);
                        continue;
                    }
                    float kMin = Float.MAX_VALUE, kMax = -Float.MAX_VALUE; // this channel over the token group
                    for (int q = p / group * group; q < (p / group + 1) * group; q++) {
                        kMin = Math.min(kMin, k[q][j]);
                        kMax = Math.max(kMax, k[q][j]);
                    }
                    float vMin = Float.MAX_VALUE, vMax = -Float.MAX_VALUE; // this token over the head's channels
                    for (int e = h * hs; e < (h + 1) * hs; e++) {
                        vMin = Math.min(vMin, v[p][e]);
                        vMax = Math.max(vMax, v[p][e]);
                    }
                    double kStep = (kMax - kMin) / levels, vStep = (vMax - vMin) / levels;
                    assertTrue(Math.abs(key - k[p][j]) <= kStep / 2 * 1.0001 + 1e-6, type + " key " + j + " at " + p + ": " + key + " vs " + k[p][j]);
                    assertTrue(Math.abs(value - v[p][j]) <= vStep / 2 * 1.0001 + 1e-6, type + " value " + j + " at " + p + ": " + value + " vs " + v[p][j]);
                    worstKey = Math.max(worstKey, Math.abs(key - k[p][j]) / kStep);
                    worstValue = Math.max(worstValue, Math.abs(value - v[p][j]) / vStep);
                }
            }
        }
        assertTrue(worstKey > 0.3 && worstValue > 0.3, "really quantized: worst errors " + worstKey + ", " + worstValue + " steps");
    }

    @Test
    void keysAndValuesOfAnOpenGroupStayFloat32UntilItFills() {
        int group = 8, kvDim = C.kvDim(), hs = C.headSize();
        float[][] k = random(group + 3, kvDim, 3, -1), v = random(group + 3, kvDim, 4, -1);
        QuantizedKvCache q = new QuantizedKvCache(KvCacheType.INT4, group, C, 16);
        F32KvCache f = new F32KvCache(C, 16);
        for (int p = 0; p < group + 3; p++) {
            q.store(0, p, k[p], 0, v[p], 0);
            f.store(0, p, k[p], 0, v[p], 0);
        }
        KvCache.Reader qr = q.reader(), fr = f.reader();
        qr.head(0, 1);
        fr.head(0, 1);
        qr.prepare(group - 2, 1); // the query before the group's last token: all float32, as f32 reads them
        for (int d = 0; d < hs; d++) {
            for (int p = 0; p < group - 1; p++) {
                assertEquals(fr.keys()[fr.keysOffset() + d * f.stride() + p], qr.keys()[d * q.stride() + p]);
                assertEquals(fr.values()[fr.valuesOffset() + d * f.stride() + p], qr.values()[d * q.stride() + p]);
            }
        }
        qr.prepare(group - 1, 4); // the group's last token has been stored: its view of the group is quantized
        int differ = 0;
        for (int d = 0; d < hs; d++) for (int p = 0; p < group; p++) if (qr.keys()[d * q.stride() + p] != k[p][hs + d]) differ++;
        assertTrue(differ > hs * group / 2, differ + " of " + hs * group + " keys changed by int4");
        for (int d = 0; d < hs; d++) for (int p = group; p < group + 3; p++) assertEquals(k[p][hs + d], qr.keys()[d * q.stride() + p]);
        assertEquals(1, q.rowsSharing(group - 2, 4), "a tile stops where the next row sees the group quantized");
        assertEquals(4, q.rowsSharing(group - 1, 4));
        assertEquals(4, f.rowsSharing(group - 2, 4));
    }

    @ParameterizedTest
    @EnumSource(value = KvCacheType.class, names = {"INT8", "INT4"})
    void aSequenceShorterThanTheGroupScoresExactlyAsFloat32(KvCacheType type) {
        LlamaModel m = TinyModels.random(TinyModels.config(true), 17); // seq_len 24
        int[] seq = tokens(24, 48, 9);
        LlamaRuntime rt = new LlamaRuntime(m);
        float[] f32 = rt.newSession(24).forward(seq, 0, 24).data().clone();
        assertArrayEquals(f32, rt.withKvCache(type, 32).newSession(24).forward(seq, 0, 24).data());
        float[] grouped = rt.withKvCache(type, 8).newSession(24).forward(seq, 0, 24).data();
        assertNotEquals(f32[23 * 48 + 5], grouped[23 * 48 + 5], "groups of 8 do get quantized");
        assertEquals(f32[3 * 48 + 5], grouped[3 * 48 + 5], "positions before the first full group see float32 only");
    }

    @ParameterizedTest
    @EnumSource(value = KvCacheType.class, names = {"INT8", "INT4"})
    void prefillInBatchesEqualsDecodingOneTokenAtATime(KvCacheType type) {
        LlamaModel m = TinyModels.random(C, 19);
        LlamaRuntime rt = new LlamaRuntime(m).withKvCache(type, 32);
        assertEquals(type, rt.kvCache());
        assertEquals(type, rt.releasingPages().kvCache(), "the option survives releasingPages");
        int n = LlamaRuntime.BATCH * 2 + 17; // three prefill batches, groups straddling them
        int[] seq = tokens(n, 48, 4);
        LlamaRuntime.Logits all = rt.newSession(n).forward(seq, 0, n);
        LlamaRuntime.Session pieces = rt.newSession(n);
        LlamaRuntime.Logits a = pieces.forward(seq, 0, 45), b = pieces.forward(seq, 45, n - 45);
        LlamaRuntime.Session decode = rt.newSession(n);
        for (int t = 0; t < n; t++) {
            LlamaRuntime.Logits one = decode.forward(seq[t]);
            if (t % 10 == 0 || t == n - 1) {
                assertEquals(all.get(t, 7), one.get(0, 7), 1e-4, "decode at " + t);
                assertEquals(all.get(t, 7), t < 45 ? a.get(t, 7) : b.get(t - 45, 7), 1e-4, "two prefills at " + t);
            }
        }
        decode.reset(); // a reused session forgets the old sequence
        float[] again = decode.forward(seq, 0, n).data();
        for (int t = 0; t < n; t += 37) assertEquals(all.get(t, 3), again[t * 48 + 3], 1e-6, "after reset at " + t);
    }

    @ParameterizedTest
    @EnumSource(value = KvCacheType.class, names = {"INT8", "INT4"})
    void resultsDoNotDependOnTheThreadCount(KvCacheType type) {
        LlamaConfig c = new LlamaConfig(128, 344, 2, 8, 4, 300, 80, 10000f, 1e-5f, false);
        LlamaModel m = LlamaRuntimeTest.quantized(TinyModels.random(c, 29), GgmlType.Q8_0);
        int[] seq = tokens(80, c.vocabSize(), 6);
        for (int i = 0; i < 3; i++) logitsOf(m, seq, 1, type); // compare warm code (see LlamaRuntimeTest)
        float[] one = logitsOf(m, seq, 1, type);
        assertArrayEquals(one, logitsOf(m, seq, 2, type), "2 threads");
        assertArrayEquals(one, logitsOf(m, seq, 3, type), "3 threads");
    }

    /** Prefill of 70 tokens, then 10 decoded one at a time, on {@code threads} threads: all logits. */
    private static float[] logitsOf(LlamaModel m, int[] seq, int threads, KvCacheType type) {
        int V = m.config().vocabSize();
        LlamaRuntime rt = new LlamaRuntime(new LlamaWeights(m), Kernels.preferred(), RowKernels.preferred(), ParallelRows.of(threads))
                .withKvCache(type, 16);
        LlamaRuntime.Session s = rt.newSession(seq.length);
        float[] out = new float[seq.length * V];
        System.arraycopy(s.forward(seq, 0, 70).data(), 0, out, 0, 70 * V);
        for (int t = 70; t < seq.length; t++) System.arraycopy(s.forward(seq[t]).data(), 0, out, t * V, V);
        return out;
    }

    @Test
    void badOptionsAreRefusedNamingWhatIsKnown() {
        assertEquals(KvCacheType.INT8, KvCacheType.parse("INT8"));
        assertEquals(KvCacheType.F32, KvCacheType.parse(" f32 "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KvCacheType.parse("int3"));
        assertTrue(e.getMessage().contains("'int3'") && e.getMessage().contains("f32, int8, int4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KvCacheType.parse(null));
        LlamaRuntime rt = new LlamaRuntime(TinyModels.random(TinyModels.config(true), 1));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> rt.withKvCache(null)).getMessage().contains("f32, int8, int4"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> rt.withKvCache(KvCacheType.INT4, 0)).getMessage().contains("group size"));
    }

    @Test
    void bytesPerTokenPerLayer() {
        LlamaConfig stories = new LlamaConfig(64, 172, 5, 8, 4, 512, 512, 10000f, 1e-5f, true); // kvDim 32, 4 kv heads
        assertEquals(256, KvCacheType.F32.bytesPerTokenPerLayer(stories, 32));
        assertEquals(32 + 32 + 8 + 32, KvCacheType.INT8.bytesPerTokenPerLayer(stories, 32)); // codes k, v; k scale+zero / 32; v scale+zero per head
        assertEquals(16 + 16 + 8 + 32, KvCacheType.INT4.bytesPerTokenPerLayer(stories, 32));
    }
}
