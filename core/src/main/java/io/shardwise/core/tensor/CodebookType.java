package io.shardwise.core.tensor;

/**
 * Weights as codes into a small fixed set of float values, with one scale per block or row: NF4 (QLoRA's 4-bit
 * NormalFloat, Dettmers et al.) and FP8 E4M3 / E5M2 (Micikevicius et al.). Stored row by row, so a row can be
 * read on its own as the runtime's row kernels do:
 * <ul>
 * <li>NF4: f32 second-level scale, f32 second-level offset, one int8 per 64-value block (the block's absmax,
 * double-quantized), then the row's 4-bit codes (two per byte, low nibble first);</li>
 * <li>FP8: f32 scale, then one byte per value. The per-tensor types store the same scale in every row.</li>
 * </ul>
 */
public enum CodebookType implements TensorType {
    NF4(4, false),
    FP8_E4M3(8, false),
    FP8_E4M3_CH(8, true),
    FP8_E5M2(8, false),
    FP8_E5M2_CH(8, true);

    public static final int NF4_BLOCK = 64;

    public final int bits;
    /** One scale per output channel (row) rather than one per tensor (FP8). */
    public final boolean perChannel;

    CodebookType(int bits, boolean perChannel) {
        this.bits = bits;
        this.perChannel = perChannel;
    }

    @Override
    public String typeName() {
        return name();
    }

    public long rowBytes(long rowLength) {
        if (this == NF4) return 8 + (rowLength + NF4_BLOCK - 1) / NF4_BLOCK + (rowLength + 1) / 2;
        return 4 + rowLength;
    }

    @Override
    public long byteSize(long[] shape) {
        long rows = TensorType.elements(shape) / shape[0];
        return Math.multiplyExact(rows, rowBytes(shape[0]));
    }
}
