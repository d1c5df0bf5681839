package io.shardwise.core.format;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A GGUF metadata value. Arrays keep their encoded payload (a view of the file when read), decoded on demand. */
public sealed interface GgufValue {
    /** Scalar strings longer than this are refused when reading (a corrupt length must not become a huge allocation). */
    long MAX_STRING_BYTES = 64L << 20;

    GgufValueType type();

    /** Any integer type; UINT64 holds its raw bits. */
    record Int(GgufValueType type, long value) implements GgufValue {
        public Int {
            if (!type.isInteger()) throw new IllegalArgumentException(type + " is not an integer type");
        }
    }

    record Real(GgufValueType type, double value) implements GgufValue {
        public Real {
            if (!type.isFloat()) throw new IllegalArgumentException(type + " is not a float type");
        }
    }

    record Bool(boolean value) implements GgufValue {
        public GgufValueType type() {
            return GgufValueType.BOOL;
        }
    }

    record Str(String value) implements GgufValue {
        public GgufValueType type() {
            return GgufValueType.STRING;
        }
    }

    /** {@code count} elements of {@code elementType}, GGUF-encoded back to back in {@code bytes} (little-endian). */
    record Array(GgufValueType elementType, long count, MemorySegment bytes) implements GgufValue {
        public Array {
            GgufCursor c = new GgufCursor(bytes, "array");
            try {
                c.skipArray(elementType, count, 0, "array of " + elementType);
            } catch (ModelFormatException e) {
                throw new IllegalArgumentException(e.getMessage(), e);
            }
            if (c.remaining() != 0) throw new IllegalArgumentException("array of " + count + " " + elementType + " has " + c.remaining() + " bytes left over");
        }

        public GgufValueType type() {
            return GgufValueType.ARRAY;
        }

        public int size() {
            return Math.toIntExact(count);
        }

        public float[] floats() {
            if (elementType != GgufValueType.FLOAT32) throw new IllegalStateException("array of " + elementType + ", not FLOAT32");
            return bytes.toArray(GgufCursor.F32);
        }

        /** Elements of any integer type that fit in an int. */
        public int[] ints() {
            List<GgufValue> v = values();
            int[] out = new int[v.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(v.get(i) instanceof Int n)) throw new IllegalStateException("array of " + elementType + ", not integers");
                out[i] = Math.toIntExact(n.value());
            }
            return out;
        }

        public List<String> strings() {
            if (elementType != GgufValueType.STRING) throw new IllegalStateException("array of " + elementType + ", not STRING");
            List<String> out = new ArrayList<>(size());
            long at = 0;
            for (long i = 0; i < count; i++) {
                int len = Math.toIntExact(bytes.get(GgufCursor.U64, at));
                out.add(new String(bytes.asSlice(at + 8, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
                at += 8 + len;
            }
            return out;
        }

        /** Every element as a value (nested arrays as arrays). */
        public List<GgufValue> values() {
            GgufCursor c = new GgufCursor(bytes, "array");
            List<GgufValue> out = new ArrayList<>(size());
            try {
                for (long i = 0; i < count; i++) {
                    out.add(c.value(elementType, "array[" + i + "]"));
                }
            } catch (ModelFormatException e) {
                throw new IllegalStateException(e); // the constructor checked the layout
            }
            return out;
        }

        public static Array ofStrings(List<String> items) {
            LeBytes b = new LeBytes();
            for (String s : items) b.string(s);
            return new Array(GgufValueType.STRING, items.size(), MemorySegment.ofArray(b.toArray()));
        }

        public static Array ofFloats(float[] items) {
            LeBytes b = new LeBytes();
            for (float f : items) b.f32(f);
            return new Array(GgufValueType.FLOAT32, items.length, MemorySegment.ofArray(b.toArray()));
        }

        public static Array ofInts(int[] items) {
            LeBytes b = new LeBytes();
            for (int v : items) b.u32(v);
            return new Array(GgufValueType.INT32, items.length, MemorySegment.ofArray(b.toArray()));
        }

        /** An array of arbitrary values, all of {@code elementType} (nested arrays included). */
        public static Array of(GgufValueType elementType, List<? extends GgufValue> items) {
            LeBytes b = new LeBytes();
            for (GgufValue v : items) {
                if (v.type() != elementType) throw new IllegalArgumentException("array of " + elementType + " given a " + v.type());
                encode(v, b);
            }
            return new Array(elementType, items.size(), MemorySegment.ofArray(b.toArray()));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Array a && a.elementType == elementType && a.count == count && a.bytes.mismatch(bytes) == -1;
        }

        @Override
        public int hashCode() {
            return Long.hashCode(count) * 31 + elementType.hashCode();
        }

        @Override
        public String toString() {
            return "Array[" + elementType + " x " + count + "]";
        }
    }

    static GgufValue of(String s) {
        return new Str(s);
    }

    static GgufValue u32(long v) {
        return new Int(GgufValueType.UINT32, v);
    }

    static GgufValue f32(float v) {
        return new Real(GgufValueType.FLOAT32, v);
    }

    static GgufValue of(boolean b) {
        return new Bool(b);
    }

    /** Appends the value's GGUF encoding (without its type id). */
    static void encode(GgufValue v, LeBytes out) {
        switch (v) {
            case Int i -> {
                switch (i.type().size) {
                    case 1 -> out.u8((int) i.value());
                    case 2 -> out.u16((int) i.value());
                    case 4 -> out.u32(i.value());
                    default -> out.u64(i.value());
                }
            }
            case Real r -> {
                if (r.type() == GgufValueType.FLOAT32) out.f32((float) r.value());
                else out.f64(r.value());
            }
            case Bool b -> out.u8(b.value() ? 1 : 0);
            case Str s -> out.string(s.value());
            case Array a -> {
                out.u32(a.elementType().id).u64(a.count());
                byte[] payload = a.bytes().toArray(ValueLayout.JAVA_BYTE);
                out.raw(payload, 0, payload.length);
            }
        }
    }
}
