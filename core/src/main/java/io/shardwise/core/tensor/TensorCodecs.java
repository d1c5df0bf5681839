package io.shardwise.core.tensor;

import io.shardwise.core.quant.BF16Codec;
import io.shardwise.core.quant.ChannelIntCodec;
import io.shardwise.core.quant.F16Codec;
import io.shardwise.core.quant.F32Codec;
import io.shardwise.core.quant.Q4_0Codec;
import io.shardwise.core.quant.Q8_0Codec;
import io.shardwise.core.quant.RowInt8Codec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The codec registry: one {@link TensorCodec} per supported type. */
public final class TensorCodecs {

    private static final Map<TensorType, TensorCodec> CODECS = new LinkedHashMap<>();
    /** GroupIntType is parameterized (bits, group size, symmetry): its codecs are made on first use. */
    private static final Map<GroupIntType, TensorCodec> GROUP_INT = new java.util.concurrent.ConcurrentHashMap<>();
    /** RowInt8Type is parameterized (I8_F16X<k> for any k): its codecs are made on first use. */
    private static final Map<RowInt8Type, TensorCodec> ROW_INT8 = new ConcurrentHashMap<>();

    static {
        // float types
        register(new F32Codec());
        register(new F16Codec());
        register(new BF16Codec());
        // 32-element block types (Q4_1, Q5_0, Q5_1, IQ4_NL go here)
        register(new Q8_0Codec());
        register(new Q4_0Codec());
        register(new io.shardwise.core.quant.Q4_1Codec());
        register(new io.shardwise.core.quant.Q5_0Codec());
        register(new io.shardwise.core.quant.Q5_1Codec());
        register(new io.shardwise.core.quant.IQ4_NLCodec());
        // 256-element K-quant types (Q2_K..Q6_K, Q8_K go here)
        register(new io.shardwise.core.quant.Q8_KCodec());
        register(new io.shardwise.core.quant.Q4_KCodec());
        register(new io.shardwise.core.quant.Q5_KCodec());
        register(new io.shardwise.core.quant.Q2_KCodec());
        register(new io.shardwise.core.quant.Q6_KCodec());
        register(new io.shardwise.core.quant.Q3_KCodec());
        // Shardwise's per-channel integer types
        register(new ChannelIntCodec(ChannelIntType.I8_ASYM_CH));
        register(new ChannelIntCodec(ChannelIntType.I4_ASYM_CH));
        // codebook types: NF4 (QLoRA) and FP8 (E4M3 / E5M2, per-tensor and per-channel scale)
        register(new io.shardwise.core.quant.Nf4Codec());
        for (CodebookType t : new CodebookType[]{CodebookType.FP8_E4M3, CodebookType.FP8_E4M3_CH, CodebookType.FP8_E5M2, CodebookType.FP8_E5M2_CH}) {
            register(new io.shardwise.core.quant.Fp8Codec(t));
        }
    }

    private static void register(TensorCodec codec) {
        CODECS.put(codec.type(), codec);
    }

    private TensorCodecs() {
    }

    public static boolean supports(TensorType type) {
        return type instanceof GroupIntType || type instanceof RowInt8Type || CODECS.containsKey(type);
    }

    public static TensorCodec codec(TensorType type) {
        if (type instanceof GroupIntType g) return GROUP_INT.computeIfAbsent(g, io.shardwise.core.quant.GroupIntCodec::new);
        if (type instanceof RowInt8Type r) return ROW_INT8.computeIfAbsent(r, RowInt8Codec::new);
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

    /** Quantizes with an importance matrix (one weight per column), as ggml's quantize_chunk does. */
    public static Tensor quantize(String name, long[] shape, float[] values, TensorType type, float[] importance) {
        if (importance == null) return quantize(name, shape, values, type);
        MemorySegment dst = MemorySegment.ofArray(new byte[Math.toIntExact(type.byteSize(shape))]);
        codec(type).quantize(values, 0, values.length, Math.toIntExact(shape[0]), importance, dst, 0);
        return new Tensor(name, type, shape, dst);
    }

    static MemorySegment allocate(long bytes) {
        return Arena.ofAuto().allocate(bytes, 8);
    }
}
