package io.shardwise.core.tensor;

import io.shardwise.core.quant.BF16Codec;
import io.shardwise.core.quant.ChannelIntCodec;
import io.shardwise.core.quant.F16Codec;
import io.shardwise.core.quant.F32Codec;
import io.shardwise.core.quant.Q4_0Codec;
import io.shardwise.core.quant.Q8_0Codec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;

/** The codec registry: one {@link TensorCodec} per supported type. */
public final class TensorCodecs {

    private static final Map<TensorType, TensorCodec> CODECS = Map.of(
            GgmlType.F32, new F32Codec(),
            GgmlType.F16, new F16Codec(),
            GgmlType.Q8_0, new Q8_0Codec(),
            GgmlType.Q4_0, new Q4_0Codec(),
            GgmlType.BF16, new BF16Codec(),
            ChannelIntType.I8_ASYM_CH, new ChannelIntCodec(ChannelIntType.I8_ASYM_CH),
            ChannelIntType.I4_ASYM_CH, new ChannelIntCodec(ChannelIntType.I4_ASYM_CH));

    private TensorCodecs() {
    }

    public static boolean supports(TensorType type) {
        return CODECS.containsKey(type);
    }

    public static TensorCodec codec(TensorType type) {
        TensorCodec c = CODECS.get(type);
        if (c == null) throw new UnsupportedOperationException("no codec for tensor type " + type.typeName() + " (supported: " + CODECS.keySet() + ")");
        return c;
    }

    public static float[] dequantize(Tensor t) {
        float[] out = new float[Math.toIntExact(t.elements())];
        codec(t.type()).dequantize(t.data(), 0, out.length, t.cols(), out, 0);
        return out;
    }

    /** Quantizes a float32 tensor to {@code type} into a fresh heap segment. */
    public static Tensor quantize(String name, long[] shape, float[] values, TensorType type) {
        MemorySegment dst = MemorySegment.ofArray(new byte[Math.toIntExact(type.byteSize(shape))]);
        codec(type).quantize(values, 0, values.length, Math.toIntExact(shape[0]), dst, 0);
        return new Tensor(name, type, shape, dst);
    }

    static MemorySegment allocate(long bytes) {
        return Arena.ofAuto().allocate(bytes, 8);
    }
}
