package io.shardwise.core.calib;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Calibration windows: seeded, distinct, BOS first, contiguous text; too little text is an error with the counts. */
class CalibrationSetTest {
    static final int BOS = 1;

    static int[] text(int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 100 + i; // every token distinct: a window's first token says where it starts
        return t;
    }

    static CalibrationSpec spec(int samples, int seqLen, long seed) {
        return new CalibrationSpec("test-text", samples, seqLen, seed, CalibrationMode.INDEPENDENT);
    }

    @Test
    void sameSeedSameWindowsAnotherSeedOthers() {
        int[] tokens = text(5000);
        int[][] a = CalibrationSet.windows(spec(16, 33, 4), tokens, BOS);
        int[][] b = CalibrationSet.windows(spec(16, 33, 4), tokens, BOS);
        for (int s = 0; s < a.length; s++) assertArrayEquals(a[s], b[s]);
        int[][] c = CalibrationSet.windows(spec(16, 33, 5), tokens, BOS);
        boolean differs = false;
        for (int s = 0; s < a.length; s++) differs |= a[s][1] != c[s][1];
        assertTrue(differs, "another seed draws other windows");
    }

    @Test
    void windowsAreDistinctContiguousSlotsAfterBos() {
        int body = 32;
        int[][] w = CalibrationSet.windows(spec(100, body + 1, 9), text(100 * body + 7), BOS);
        assertEquals(100, w.length);
        Set<Integer> starts = new HashSet<>();
        for (int[] x : w) {
            assertEquals(body + 1, x.length);
            assertEquals(BOS, x[0]);
            int start = x[1] - 100;
            assertEquals(0, start % body, "windows sit on slot boundaries: no two overlap");
            for (int j = 1; j <= body; j++) assertEquals(100 + start + j - 1, x[j], "contiguous text");
            starts.add(start);
        }
        assertEquals(100, starts.size(), "every slot used once: all windows distinct");
    }

    @Test
    void tooShortTextIsAnErrorWithTheCounts() {
        // 3 windows of 8 need 3 x 7 = 21 tokens
        assertEquals(3, CalibrationSet.windows(spec(3, 8, 0), text(21), BOS).length);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CalibrationSet.windows(spec(3, 8, 0), text(20), BOS));
        assertEquals("calibration: 'test-text' has 20 tokens, fewer than calib_samples x (calib_seq_len - 1) = 3 x 7 = 21", e.getMessage());
        assertEquals(21, spec(3, 8, 0).tokensNeeded());
    }

    @Test
    void specFromParamsTakesDefaultsAndNamesBadValues() {
        CalibrationSpec d = CalibrationSpec.fromParams(Map.of(), CalibrationMode.SEQUENTIAL);
        assertEquals(new CalibrationSpec(CalibrationSpec.DEFAULT_DATASET, 128, 512, 0, CalibrationMode.SEQUENTIAL), d);
        CalibrationSpec g = CalibrationSpec.fromParams(Map.of("calibration", "wikitext2", "calib_samples", "4", "calib_seq_len", "64",
                "calib_seed", "3", "calib_mode", "independent"), CalibrationMode.SEQUENTIAL);
        assertEquals(new CalibrationSpec("wikitext2", 4, 64, 3, CalibrationMode.INDEPENDENT), g);
        assertEquals("calib_samples: 'many' is not a whole number",
                assertThrows(IllegalArgumentException.class, () -> CalibrationSpec.fromParams(Map.of("calib_samples", "many"), CalibrationMode.INDEPENDENT)).getMessage());
        assertEquals("calib_seq_len: 1 is outside [2, 8192]",
                assertThrows(IllegalArgumentException.class, () -> CalibrationSpec.fromParams(Map.of("calib_seq_len", "1"), CalibrationMode.INDEPENDENT)).getMessage());
        assertEquals("calib_mode: 'both' is not one of independent, sequential",
                assertThrows(IllegalArgumentException.class, () -> CalibrationSpec.fromParams(Map.of("calib_mode", "both"), CalibrationMode.INDEPENDENT)).getMessage());
        assertFalse(CalibrationSpec.paramSpecs(CalibrationMode.SEQUENTIAL).isEmpty());
    }
}
