package io.shardwise.core.model;

/** GGUF tensor names for the Llama architecture; the whole project uses them. */
public final class TensorNames {
    public static final String TOKEN_EMBD = "token_embd.weight";
    public static final String OUTPUT_NORM = "output_norm.weight";
    public static final String OUTPUT = "output.weight";
    /** Suffix of a low-rank factor A ({@code <base>.weight.lora_a}, ggml shape [in, rank]): x to rank dims. */
    public static final String LORA_A = ".lora_a";
    /** Suffix of a low-rank factor B ({@code <base>.weight.lora_b}, ggml shape [rank, out]): rank dims to out. */
    public static final String LORA_B = ".lora_b";

    private TensorNames() {
    }

    public static String attnNorm(int l) { return "blk." + l + ".attn_norm.weight"; }
    public static String attnQ(int l) { return "blk." + l + ".attn_q.weight"; }
    public static String attnK(int l) { return "blk." + l + ".attn_k.weight"; }
    public static String attnV(int l) { return "blk." + l + ".attn_v.weight"; }
    public static String attnOutput(int l) { return "blk." + l + ".attn_output.weight"; }
    public static String ffnNorm(int l) { return "blk." + l + ".ffn_norm.weight"; }
    /** w1 in llama2.c. */
    public static String ffnGate(int l) { return "blk." + l + ".ffn_gate.weight"; }
    /** w2 in llama2.c. */
    public static String ffnDown(int l) { return "blk." + l + ".ffn_down.weight"; }
    /** w3 in llama2.c. */
    public static String ffnUp(int l) { return "blk." + l + ".ffn_up.weight"; }

    /** The block's linear weights (the matrices compression techniques transform), in forward order. */
    public static java.util.List<String> blockMatrices(int l) {
        return java.util.List.of(attnQ(l), attnK(l), attnV(l), attnOutput(l), ffnGate(l), ffnUp(l), ffnDown(l));
    }

    public static java.util.List<String> blockTensors(int l) {
        return java.util.List.of(attnNorm(l), attnQ(l), attnK(l), attnV(l), attnOutput(l), ffnNorm(l), ffnGate(l), ffnUp(l), ffnDown(l));
    }

    /** The low-rank factor A of a weight: {@code blk.0.attn_q.weight} -> {@code blk.0.attn_q.weight.lora_a}. */
    public static String loraA(String weight) { return weight + LORA_A; }

    /** The low-rank factor B of a weight: {@code blk.0.attn_q.weight} -> {@code blk.0.attn_q.weight.lora_b}. */
    public static String loraB(String weight) { return weight + LORA_B; }

    /** Block index of a {@code blk.N.*} name, or -1. */
    public static int blockOf(String name) {
        if (!name.startsWith("blk.")) return -1;
        int dot = name.indexOf('.', 4);
        return Integer.parseInt(name.substring(4, dot));
    }
}
