package io.shardwise.core.calib;

import io.shardwise.core.blob.CorruptBlobException;
import io.shardwise.core.blob.FileBlobStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The activation blob: written sample by sample, read back exactly; a damaged or mismatched blob is refused naming its digest. */
class ActivationBlobTest {
    @TempDir
    Path tmp;

    static float[] sample(int s, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = s * 1000 + i - 0.5f * i * i;
        return v;
    }

    String write(FileBlobStore blobs, int samples, int seqLen, int dim) throws Exception {
        try (ActivationBlob.Writer w = new ActivationBlob.Writer(blobs, samples, seqLen, dim)) {
            for (int s = 0; s < samples; s++) w.add(sample(s, seqLen * dim));
            return w.commit();
        }
    }

    @Test
    void roundTripsEverySampleAndIsContentAddressed() throws Exception {
        FileBlobStore blobs = new FileBlobStore(tmp.resolve("blobs"));
        String d = write(blobs, 3, 5, 4);
        assertEquals(d, write(blobs, 3, 5, 4), "same activations, same digest");
        assertEquals(ActivationBlob.HEADER + 3 * 5 * 4 * 4, blobs.size(d));
        try (Arena arena = Arena.ofConfined()) {
            ActivationBlob.Activations a = ActivationBlob.read(blobs, d, arena, 3, 5, 4);
            for (int s = 0; s < 3; s++) assertArrayEquals(sample(s, 20), a.sample(s));
            assertThrows(IndexOutOfBoundsException.class, () -> a.sample(3));
        }
    }

    @Test
    void writerRefusesAWrongSampleSizeAndAnEarlyCommit() throws Exception {
        FileBlobStore blobs = new FileBlobStore(tmp.resolve("blobs"));
        try (ActivationBlob.Writer w = new ActivationBlob.Writer(blobs, 2, 5, 4)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> w.add(new float[19])).getMessage().contains("expected 5 x 4"));
            w.add(sample(0, 20));
            assertEquals("1 of 2 samples written", assertThrows(IllegalStateException.class, w::commit).getMessage());
        }
    }

    @Test
    void truncatedBadMagicAndWrongShapeAreCorruptNamingTheDigest() throws Exception {
        FileBlobStore blobs = new FileBlobStore(tmp.resolve("blobs"));
        byte[] good = blobs.get(write(blobs, 2, 3, 4));
        String truncated = blobs.put(Arrays.copyOf(good, good.length - 4));
        String header = blobs.put(Arrays.copyOf(good, 10));
        byte[] magic = good.clone();
        magic[0] = 'X';
        String badMagic = blobs.put(magic);
        String ok = blobs.put(good);
        try (Arena arena = Arena.ofConfined()) {
            CorruptBlobException e = assertThrows(CorruptBlobException.class, () -> ActivationBlob.read(blobs, truncated, arena, 2, 3, 4));
            assertEquals("activation blob " + truncated + ": " + (good.length - 4) + " bytes, its header says " + good.length, e.getMessage());
            e = assertThrows(CorruptBlobException.class, () -> ActivationBlob.read(blobs, header, arena, 2, 3, 4));
            assertEquals("activation blob " + header + ": 10 bytes, shorter than its 24-byte header", e.getMessage());
            e = assertThrows(CorruptBlobException.class, () -> ActivationBlob.read(blobs, badMagic, arena, 2, 3, 4));
            assertEquals("activation blob " + badMagic + ": not an activation blob (bad magic)", e.getMessage());
            e = assertThrows(CorruptBlobException.class, () -> ActivationBlob.read(blobs, ok, arena, 2, 3, 8));
            assertEquals("activation blob " + ok + ": holds 2 x 3 x 4 activations, this stage needs 2 x 3 x 8", e.getMessage());
            e = assertThrows(CorruptBlobException.class, () -> ActivationBlob.read(blobs, ok, arena, 4, 3, 4));
            assertTrue(e.getMessage().contains(ok) && e.getMessage().contains("this stage needs 4 x 3 x 4"), e.getMessage());
        }
    }
}
