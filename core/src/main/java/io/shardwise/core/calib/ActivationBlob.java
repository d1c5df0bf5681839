package io.shardwise.core.calib;

import io.shardwise.core.blob.BlobStore;
import io.shardwise.core.blob.BlobWriter;
import io.shardwise.core.blob.CorruptBlobException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The claim check of sequential calibration: a block's output activations (the residual stream after it) for every
 * calibration window, which the next block's task reads as its input. Layout: the 8 bytes {@code SWACT001}, int32
 * samples, seqLen, dim and 0, then samples x seqLen x dim float32 (little-endian), sample by sample.
 */
public final class ActivationBlob {
    static final byte[] MAGIC = "SWACT001".getBytes(StandardCharsets.US_ASCII);
    static final int HEADER = 24;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A mapped activation blob. */
    public record Activations(String digest, int samples, int seqLen, int dim, MemorySegment data) {
        /** Sample s: seqLen x dim floats. */
        public float[] sample(int s) {
            if (s < 0 || s >= samples) throw new IndexOutOfBoundsException("sample " + s + " of " + samples);
            long n = (long) seqLen * dim;
            float[] out = new float[Math.toIntExact(n)];
            MemorySegment.copy(data, F32, HEADER + s * n * 4, out, 0, out.length);
            return out;
        }
    }

    /** Writes samples one at a time, so only one is ever in memory. */
    public static final class Writer implements AutoCloseable {
        private final BlobWriter out;
        private final int samples, seqLen, dim;
        private int written;

        public Writer(BlobStore blobs, int samples, int seqLen, int dim) throws IOException {
            this.out = blobs.writer();
            this.samples = samples;
            this.seqLen = seqLen;
            this.dim = dim;
            MemorySegment h = MemorySegment.ofArray(new byte[HEADER]);
            MemorySegment.copy(MAGIC, 0, h, ValueLayout.JAVA_BYTE, 0, MAGIC.length);
            h.set(I32, 8, samples);
            h.set(I32, 12, seqLen);
            h.set(I32, 16, dim);
            out.write(h);
        }

        public void add(float[] sample) throws IOException {
            if (sample.length != (long) seqLen * dim) throw new IllegalArgumentException("sample of " + sample.length + " floats, expected " + seqLen + " x " + dim);
            if (written == samples) throw new IllegalStateException("all " + samples + " samples were written");
            MemorySegment seg = MemorySegment.ofArray(new byte[sample.length * 4]);
            MemorySegment.copy(sample, 0, seg, F32, 0, sample.length);
            out.write(seg);
            written++;
        }

        /** Stores the blob and returns its digest. */
        public String commit() throws IOException {
            if (written != samples) throw new IllegalStateException(written + " of " + samples + " samples written");
            return out.commit();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }

    private ActivationBlob() {
    }

    /** Maps and checks an activation blob: the header and the size must agree, and the shape must be what the reader expects. */
    public static Activations read(BlobStore blobs, String digest, Arena arena, int expectSamples, int expectSeqLen, int expectDim) throws IOException {
        MemorySegment m = blobs.map(digest, arena);
        if (m.byteSize() < HEADER) throw new CorruptBlobException("activation blob " + digest + ": " + m.byteSize() + " bytes, shorter than its " + HEADER + "-byte header");
        for (int i = 0; i < MAGIC.length; i++) {
            if (m.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i]) throw new CorruptBlobException("activation blob " + digest + ": not an activation blob (bad magic)");
        }
        int samples = m.get(I32, 8), seqLen = m.get(I32, 12), dim = m.get(I32, 16);
        if (samples != expectSamples || seqLen != expectSeqLen || dim != expectDim) {
            throw new CorruptBlobException("activation blob " + digest + ": holds " + samples + " x " + seqLen + " x " + dim
                    + " activations, this stage needs " + expectSamples + " x " + expectSeqLen + " x " + expectDim);
        }
        long need = HEADER + (long) samples * seqLen * dim * 4;
        if (m.byteSize() != need) throw new CorruptBlobException("activation blob " + digest + ": " + m.byteSize() + " bytes, its header says " + need);
        return new Activations(digest, samples, seqLen, dim, m);
    }
}
