package io.shardwise.core.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.shardwise.core.model.LlamaConfig;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A trainable Llama in DJL NDArray ops (PyTorch engine, fp32 only), with the math of llama2.c's
 * run.c: RMSNorm, RoPE on interleaved pairs, grouped-query causal attention, SwiGLU MLP and a
 * classifier tied to the token embedding when the model has no {@code output.weight}.
 * Parameters keep GGUF names; a weight matrix [out][in] (ggml shape {in, out}) is an NDArray (out, in).
 * Weights that are exactly zero when loaded get a mask, so pruned weights stay zero through training.
 */
public final class DjlLlama implements AutoCloseable {
    private final LlamaConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    private final Map<String, NDArray> masks = new LinkedHashMap<>();
    private final Map<String, long[]> ggmlShapes = new LinkedHashMap<>();
    private final NDArray ropeRotate;

    private DjlLlama(LlamaConfig config, NDManager parent) {
        this.config = config;
        this.manager = parent.newSubManager();
        this.ropeRotate = rotationMatrix(manager, config.headSize());
    }

    /**
     * Copies a model's tensors (any tensor type, dequantized to fp32) into NDArrays.
     *
     * @param trainable whether parameters take gradients (false for a teacher)
     */
    public static DjlLlama of(LlamaModel model, NDManager parent, boolean trainable) {
        DjlLlama m = new DjlLlama(model.config(), parent);
        LlamaConfig c = model.config();
        List<String> names = new ArrayList<>();
        names.add(TensorNames.TOKEN_EMBD);
        for (int l = 0; l < c.nLayers(); l++) names.addAll(TensorNames.blockTensors(l));
        names.add(TensorNames.OUTPUT_NORM);
        if (model.tensors().containsKey(TensorNames.OUTPUT)) names.add(TensorNames.OUTPUT);
        for (String name : names) {
            Tensor t = model.tensor(name);
            float[] v = t.toFloats();
            Shape shape = t.shape().length == 1 ? new Shape(t.shape()[0]) : new Shape(t.rows(), t.cols());
            NDArray a = m.manager.create(v, shape);
            if (trainable) a.setRequiresGradient(true);
            m.params.put(name, a);
            m.ggmlShapes.put(name, t.shape().clone());
            if (trainable && hasZero(v)) {
                float[] mask = new float[v.length];
                for (int i = 0; i < v.length; i++) mask[i] = v[i] == 0f ? 0f : 1f;
                m.masks.put(name, m.manager.create(mask, shape));
            }
        }
        return m;
    }

    private static boolean hasZero(float[] v) {
        for (float x : v) if (x == 0f) return true;
        return false;
    }

    public LlamaConfig config() {
        return config;
    }

    public NDManager manager() {
        return manager;
    }

    /** Parameters by GGUF name, in llama2.c order. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /** Names of the parameters that hold exact zeros (kept at zero by {@link #maskGradients()} and {@link #applyMasks()}). */
    public java.util.Set<String> maskedParameters() {
        return Collections.unmodifiableSet(masks.keySet());
    }

    /** Zeroes the gradients of pruned weights, so an optimizer never moves them. */
    public void maskGradients() {
        for (Map.Entry<String, NDArray> e : masks.entrySet()) {
            NDArray g = params.get(e.getKey()).getGradient();
            g.muli(e.getValue());
            g.close();
        }
    }

    /** Re-applies the zero masks to the weights (after an optimizer step). */
    public void applyMasks() {
        for (Map.Entry<String, NDArray> e : masks.entrySet()) params.get(e.getKey()).muli(e.getValue());
    }

    /** Clears accumulated gradients (DJL's PyTorch collector accumulates them across backward calls). */
    public void zeroGradients() {
        for (NDArray p : params.values()) {
            if (p.hasGradient()) {
                NDArray g = p.getGradient();
                g.subi(g);
                g.close();
            }
        }
    }

    /**
     * Logits for a batch of token ids.
     *
     * @param tokens int32 (B, T) with T at most seq_len
     * @return float32 (B, T, vocab)
     */
    public NDArray logits(NDArray tokens) {
        LlamaConfig c = config;
        long b = tokens.getShape().get(0), t = tokens.getShape().get(1);
        int hs = c.headSize(), nh = c.nHeads(), nkv = c.nKvHeads(), rep = nh / nkv;
        NDManager m = tokens.getManager();
        NDArray emb = params.get(TensorNames.TOKEN_EMBD);
        // one-hot matmul instead of a gather: deterministic gradients on every thread count
        NDArray x = tokens.toType(DataType.INT32, false).oneHot(c.vocabSize()).toType(DataType.FLOAT32, false).matMul(emb);
        NDArray[] rope = ropeTables(m, t);
        NDArray mask = causalMask(m, t);
        float scale = (float) (1.0 / Math.sqrt(hs));
        for (int l = 0; l < c.nLayers(); l++) {
            NDArray xn = rmsNorm(x, params.get(TensorNames.attnNorm(l)));
            NDArray q = linear(xn, TensorNames.attnQ(l), m).reshape(b, t, nh, hs);
            NDArray k = linear(xn, TensorNames.attnK(l), m).reshape(b, t, nkv, hs);
            NDArray v = linear(xn, TensorNames.attnV(l), m).reshape(b, t, nkv, hs);
            q = rope(q, rope).transpose(0, 2, 1, 3);
            k = repeatKv(rope(k, rope), b, t, nkv, rep, hs).transpose(0, 2, 1, 3);
            v = repeatKv(v, b, t, nkv, rep, hs).transpose(0, 2, 1, 3);
            NDArray att = q.matMul(k.transpose(0, 1, 3, 2)).mul(scale).add(mask).softmax(-1);
            NDArray o = att.matMul(v).transpose(0, 2, 1, 3).reshape(b, t, c.qDim());
            x = x.add(linear(o, TensorNames.attnOutput(l), m));
            NDArray hn = rmsNorm(x, params.get(TensorNames.ffnNorm(l)));
            NDArray gate = linear(hn, TensorNames.ffnGate(l), m);
            NDArray h = gate.mul(Activation.sigmoid(gate)).mul(linear(hn, TensorNames.ffnUp(l), m));
            x = x.add(linear(h, TensorNames.ffnDown(l), m));
        }
        x = rmsNorm(x, params.get(TensorNames.OUTPUT_NORM));
        NDArray cls = params.getOrDefault(TensorNames.OUTPUT, emb);
        return x.matMul(transposed(cls, m));
    }

    /** Mean next-token negative log-likelihood (nats) of {@code targets} (B, T) after {@code inputs} (B, T). */
    public NDArray meanNll(NDArray inputs, NDArray targets) {
        NDArray logp = logits(inputs).logSoftmax(-1);
        NDArray picked = logp.mul(targets.toType(DataType.INT32, false).oneHot(config.vocabSize()).toType(DataType.FLOAT32, false));
        return picked.sum().neg().div(targets.size());
    }

    private NDArray linear(NDArray x, String weight, NDManager m) {
        return x.matMul(transposed(params.get(weight), m));
    }

    /** W^T owned by the step's manager: DJL puts an op's result in its first operand's manager, which for a weight would leak. */
    private static NDArray transposed(NDArray w, NDManager m) {
        NDArray t = w.transpose();
        t.attach(m);
        return t;
    }

    private NDArray rmsNorm(NDArray x, NDArray w) {
        NDArray ms = x.square().mean(new int[]{-1}, true);
        return x.div(ms.add(config.normEps()).sqrt()).mul(w);
    }

    /** llama2.c RoPE: pair (2j, 2j+1) of each head turns by pos * theta^(-2j/head_size). */
    private NDArray rope(NDArray x, NDArray[] cosSin) {
        return x.mul(cosSin[0]).add(x.matMul(ropeRotate).mul(cosSin[1]));
    }

    private static NDArray repeatKv(NDArray kv, long b, long t, int nkv, int rep, int hs) {
        if (rep == 1) return kv;
        // query head h reads kv head h / rep, as in run.c
        return kv.expandDims(3).broadcast(new Shape(b, t, nkv, rep, hs)).reshape(b, t, (long) nkv * rep, hs);
    }

    /** cos and sin per (position, 1, head dim), each angle repeated for both members of its pair. */
    private NDArray[] ropeTables(NDManager m, long t) {
        int hs = config.headSize();
        float[] cos = new float[(int) t * hs], sin = new float[(int) t * hs];
        for (int p = 0; p < t; p++) {
            for (int i = 0; i < hs; i += 2) {
                double freq = 1.0 / Math.pow(config.ropeTheta(), (double) i / hs);
                float val = (float) (p * freq);
                float fc = (float) Math.cos(val), fs = (float) Math.sin(val);
                cos[p * hs + i] = fc;
                cos[p * hs + i + 1] = fc;
                sin[p * hs + i] = fs;
                sin[p * hs + i + 1] = fs;
            }
        }
        Shape s = new Shape(t, 1, hs);
        return new NDArray[]{m.create(cos, s), m.create(sin, s)};
    }

    /** x @ R maps each pair (a, b) to (-b, a). */
    private static NDArray rotationMatrix(NDManager m, int hs) {
        float[] r = new float[hs * hs];
        for (int j = 0; j < hs; j += 2) {
            r[(j + 1) * hs + j] = -1f;
            r[j * hs + j + 1] = 1f;
        }
        return m.create(r, new Shape(hs, hs));
    }

    private static NDArray causalMask(NDManager m, long t) {
        float[] mask = new float[(int) (t * t)];
        for (int i = 0; i < t; i++) for (int j = i + 1; j < t; j++) mask[(int) (i * t + j)] = -1e9f;
        return m.create(mask, new Shape(t, t));
    }

    /** The parameters as F32 tensors with GGUF names and ggml shapes. */
    public Map<String, Tensor> export() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            out.put(e.getKey(), Tensor.ofFloats(e.getKey(), ggmlShapes.get(e.getKey()).clone(), e.getValue().toFloatArray()));
        }
        return out;
    }

    /** This model with the trained tensors in place of the given model's (vocabulary and config kept). */
    public LlamaModel toModel(LlamaModel base) {
        return base.withTensors(export());
    }

    @Override
    public void close() {
        manager.close();
    }
}
