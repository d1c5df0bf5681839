package io.shardwise.core.format;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A growable little-endian byte buffer for GGUF headers and array payloads. */
final class LeBytes {
    private byte[] buf = new byte[256];
    private int size;

    private void ensure(int n) {
        if (size + n > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, Math.addExact(size, n)));
    }

    LeBytes u8(int v) {
        ensure(1);
        buf[size++] = (byte) v;
        return this;
    }

    LeBytes u16(int v) {
        return u8(v).u8(v >>> 8);
    }

    LeBytes u32(long v) {
        ensure(4);
        for (int i = 0; i < 4; i++) buf[size++] = (byte) (v >>> (8 * i));
        return this;
    }

    LeBytes u64(long v) {
        ensure(8);
        for (int i = 0; i < 8; i++) buf[size++] = (byte) (v >>> (8 * i));
        return this;
    }

    LeBytes f32(float v) {
        return u32(Float.floatToRawIntBits(v));
    }

    LeBytes f64(double v) {
        return u64(Double.doubleToRawLongBits(v));
    }

    LeBytes string(String s) {
        return bytesWithLength(s.getBytes(StandardCharsets.UTF_8));
    }

    LeBytes bytesWithLength(byte[] b) {
        u64(b.length);
        return raw(b, 0, b.length);
    }

    LeBytes raw(byte[] b, int off, int len) {
        ensure(len);
        System.arraycopy(b, off, buf, size, len);
        size += len;
        return this;
    }

    LeBytes zeros(int n) {
        ensure(n);
        size += n; // the buffer is zero-filled beyond size
        return this;
    }

    int size() {
        return size;
    }

    byte[] toArray() {
        return Arrays.copyOf(buf, size);
    }
}
