package io.shardwise.core.calib;

import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.runtime.Linear;
import io.shardwise.core.runtime.LlamaRuntime;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tokenizer.Tokenizers;
import io.shardwise.core.work.ShardInput;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The calibration side of one shard task: runs the calibration windows through the shard's block and shows a
 * {@link LlamaRuntime.LinearObserver} the input of each of its linear layers (GPTQ's Hessians, AWQ's and
 * SmoothQuant's channel statistics, imatrix), then, in sequential mode, runs the compressed block on the same
 * inputs and stores its outputs for the next block. A block's inputs come from the task's activation blob when
 * the coordinator handed one over (sequential, block i > 0), else from the input model itself (embedding and
 * blocks 0..i-1, computed per window). The embedding shard has nothing to calibrate (a lookup, no matmul); the
 * head shard calibrates {@code output.weight} on the final-normed states.
 * Memory: the input model stays mapped; one window's states at a time.
 */
public final class BlockCalibration {
    private final ShardInput input;
    private final CalibrationSpec spec;
    private final LlamaModel model;
    private final int[][] windows;
    /** The block this shard is (0..L-1), L for the head, -1 for the embedding (nothing to calibrate). */
    private final int block;
    private final ActivationBlob.Activations handed;

    private BlockCalibration(ShardInput input, CalibrationSpec spec, LlamaModel model, int[][] windows, int block,
                             ActivationBlob.Activations handed) {
        this.input = input;
        this.spec = spec;
        this.model = model;
        this.windows = windows;
        this.block = block;
        this.handed = handed;
    }

    /** Maps the task's input model, draws the windows from {@code text} and maps the handed-over activations, if any. */
    public static BlockCalibration open(ShardInput in, CalibrationSpec spec, Path text) throws IOException {
        ModelStore store = in.store();
        LlamaModel model = store.load(in.inputDigest(), in.arena());
        int[][] windows = CalibrationSet.load(spec, text, Tokenizers.forVocabulary(model.vocabulary()));
        int layers = model.config().nLayers();
        int block = blockOf(in.shard().getShardId(), layers);
        ActivationBlob.Activations handed = null;
        if (!in.activations().isEmpty()) {
            handed = ActivationBlob.read(store.blobs(), in.activations(), in.arena(), spec.samples(), spec.seqLen(), model.config().dim());
        }
        return new BlockCalibration(in, spec, model, windows, block, handed);
    }

    static int blockOf(String shardId, int layers) {
        if (shardId.equals("embed")) return -1;
        if (shardId.equals("head")) return layers;
        if (shardId.startsWith("block.")) {
            int b = Integer.parseInt(shardId.substring("block.".length()));
            if (b >= 0 && b < layers) return b;
        }
        throw new IllegalArgumentException("shard " + shardId + " is not embed, head or block.0.." + (layers - 1) + ": calibration runs per block");
    }

    public LlamaModel model() {
        return model;
    }

    public CalibrationSpec spec() {
        return spec;
    }

    /** The block index (-1 embedding, L head). */
    public int block() {
        return block;
    }

    /** Calibration tokens seen per pass: samples x seqLen. */
    public long tokens() {
        return (long) windows.length * spec.seqLen();
    }

    /**
     * Runs every window through this shard's layers with {@code observer} watching their linear inputs (in batches
     * of up to 128 tokens, window by window). Progress goes to the task's progress reporter.
     */
    public void observe(LlamaRuntime.LinearObserver observer) {
        if (block < 0) return;
        LlamaRuntime rt = new LlamaRuntime(model);
        int T = spec.seqLen(), L = model.config().nLayers();
        for (int s = 0; s < windows.length; s++) {
            LlamaRuntime.Session session = rt.newSession(T);
            float[] h = inputs(session, s);
            if (block < L) {
                session.reset();
                session.observe(observer);
                session.layers(h, T, block, block + 1);
            } else {
                Tensor out = model.classifier();
                float[] normed = session.outputNormed(h, T);
                observer.input(new Linear[]{new Linear(out.name(), out.type(), out.data(), out.cols(), out.rows())}, normed, 0, T, normed.length / T);
            }
            input.progress().report(0.5 * (s + 1) / windows.length, "calibrating window " + (s + 1) + "/" + windows.length);
        }
    }

    /**
     * Sequential mode: runs the block with {@code compressed} tensors in place of the input model's on the same
     * inputs and stores the outputs as an activation blob (the next block's input); returns its digest. Empty for
     * the embedding and the head, whose outputs no block reads.
     */
    public String storeOutputs(Map<String, Tensor> compressed) throws IOException {
        int L = model.config().nLayers();
        if (block < 0 || block >= L) return "";
        LlamaRuntime rt = new LlamaRuntime(model.withTensors(compressed));
        int T = spec.seqLen();
        try (ActivationBlob.Writer w = new ActivationBlob.Writer(input.store().blobs(), windows.length, T, model.config().dim())) {
            for (int s = 0; s < windows.length; s++) {
                LlamaRuntime.Session session = rt.newSession(T);
                float[] h = inputs(session, s);
                session.reset();
                w.add(session.layers(h, T, block, block + 1));
                input.progress().report(0.5 + 0.5 * (s + 1) / windows.length, "block outputs, window " + (s + 1) + "/" + windows.length);
            }
            return w.commit();
        }
    }

    /** Window s's states at this block's input: handed over, or computed through the input model's earlier blocks. */
    private float[] inputs(LlamaRuntime.Session session, int s) {
        if (handed != null) return handed.sample(s);
        int T = spec.seqLen();
        float[] h = session.embed(windows[s], 0, T);
        int upTo = Math.min(block, model.config().nLayers());
        return upTo == 0 ? h : session.layers(h, T, 0, upTo);
    }

    /** True when a tensor of this shard is a matrix calibration sees (a linear layer's weight). */
    public static boolean isLinear(String tensorName) {
        return !tensorName.equals(TensorNames.TOKEN_EMBD) && tensorName.endsWith(".weight") && !tensorName.contains("norm");
    }
}
