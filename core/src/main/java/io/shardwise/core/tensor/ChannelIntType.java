package io.shardwise.core.tensor;

/**
 * Per-output-channel integer weights (one scale and zero point per row), the layout of
 * llm-compressor's "channel" strategy. Stored row by row: float32 scale, float32 zero point,
 * then the row's integers (int8 one per byte; int4 two per byte, low nibble first).
 */
public enum ChannelIntType implements TensorType {
    I8_ASYM_CH(8),
    I4_ASYM_CH(4);

    public final int bits;

    ChannelIntType(int bits) {
        this.bits = bits;
    }

    @Override
    public String typeName() {
        return name();
    }

    public long rowBytes(long rowLength) {
        return 8 + (bits == 8 ? rowLength : (rowLength + 1) / 2);
    }

    @Override
    public long byteSize(long[] shape) {
        long rows = TensorType.elements(shape) / shape[0];
        return Math.multiplyExact(rows, rowBytes(shape[0]));
    }
}
