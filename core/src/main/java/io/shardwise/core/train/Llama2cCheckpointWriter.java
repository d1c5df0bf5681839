package io.shardwise.core.train;

import io.shardwise.core.format.Llama2cCheckpoint;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes llama2.c checkpoints (run.c's legacy format, what {@link Llama2cCheckpoint#read} reads):
 * seven int32 header fields (vocab_size negative when the classifier is not shared), then float32
 * tensors in llama2.c order, with the freq_cis tables export.py writes before the classifier.
 * The format stores neither RoPE theta nor the norm epsilon: readers assume 10000 and 1e-5.
 */
public final class Llama2cCheckpointWriter {
    private Llama2cCheckpointWriter() {
    }

    public static void write(LlamaModel model, Path bin) throws IOException {
        LlamaConfig c = model.config();
        boolean tied = !model.tensors().containsKey(TensorNames.OUTPUT);
        if (c.explicitHeadDim()) {
            throw new ModelFormatException(bin + ": llama2.c format cannot hold head_dim " + c.headDim() + " (its header has no such field; head size is always dim / n_heads = "
                    + c.dim() + " / " + c.nHeads() + "); write GGUF or HF safetensors instead");
        }
        if (c.ropeTheta() != 10000f || c.normEps() != 1e-5f) {
            throw new ModelFormatException(bin + ": llama2.c format holds only rope theta 10000 and norm eps 1e-5, model has "
                    + c.ropeTheta() + " and " + c.normEps());
        }
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(bin), 1 << 16)) {
            ByteBuffer h = ByteBuffer.allocate(Llama2cCheckpoint.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            h.putInt(c.dim()).putInt(c.hiddenDim()).putInt(c.nLayers()).putInt(c.nHeads()).putInt(c.nKvHeads())
                    .putInt(tied ? c.vocabSize() : -c.vocabSize()).putInt(c.seqLen());
            out.write(h.array());
            LlamaConfig layoutConfig = new LlamaConfig(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(),
                    c.vocabSize(), c.seqLen(), c.ropeTheta(), c.normEps(), tied);
            for (Llama2cCheckpoint.Entry e : Llama2cCheckpoint.layout(layoutConfig, Long.MAX_VALUE, bin.toString()).values()) {
                if (e.name().equals(TensorNames.OUTPUT)) writeFreqCis(out, c);
                writeFloats(out, model.tensor(e.name()).toFloats());
                if (e.name().equals(TensorNames.OUTPUT_NORM) && tied) writeFreqCis(out, c);
            }
        }
    }

    /** freq_cis_real then freq_cis_imag, (seq_len, head_size / 2) each; run.c skips them and recomputes RoPE. */
    private static void writeFreqCis(OutputStream out, LlamaConfig c) throws IOException {
        int half = c.headSize() / 2;
        float[] re = new float[c.seqLen() * half], im = new float[c.seqLen() * half];
        for (int t = 0; t < c.seqLen(); t++) {
            for (int j = 0; j < half; j++) {
                double a = t / Math.pow(c.ropeTheta(), 2.0 * j / c.headSize());
                re[t * half + j] = (float) Math.cos(a);
                im[t * half + j] = (float) Math.sin(a);
            }
        }
        writeFloats(out, re);
        writeFloats(out, im);
    }

    private static void writeFloats(OutputStream out, float[] v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        out.write(b.array());
    }
}
