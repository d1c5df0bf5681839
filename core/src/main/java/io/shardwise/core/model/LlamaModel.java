package io.shardwise.core.model;

import io.shardwise.core.tensor.Tensor;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A Llama model: config, vocabulary and tensors by GGUF name. Tensors may be views into mapped
 * files; nothing here copies them.
 */
public record LlamaModel(LlamaConfig config, Vocabulary vocabulary, Map<String, Tensor> tensors) {

    public LlamaModel {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        LowRankPairs.check(tensors);
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("model has no tensor " + name);
        return t;
    }

    /**
     * The classifier: {@code output.weight}, or the token embedding when they are tied. A classifier replaced by its
     * low-rank factors alone has no single tensor: refused (the runtime runs it as two matmuls).
     */
    public Tensor classifier() {
        Tensor out = tensors.get(TensorNames.OUTPUT);
        if (out == null && LowRankPairs.hasFactors(tensors, TensorNames.OUTPUT)) {
            throw new IllegalStateException("the classifier " + TensorNames.OUTPUT + " is stored as low-rank factors only; there is no single classifier tensor");
        }
        return out != null ? out : tensor(TensorNames.TOKEN_EMBD);
    }

    public LlamaModel withTensors(Map<String, Tensor> replaced) {
        Map<String, Tensor> m = new LinkedHashMap<>(tensors);
        m.putAll(replaced);
        return new LlamaModel(config, vocabulary, m);
    }

    /** The same model without the named tensors (a weight replaced by its low-rank factors drops out). */
    public LlamaModel withoutTensors(java.util.Collection<String> names) {
        Map<String, Tensor> m = new LinkedHashMap<>(tensors);
        for (String n : names) if (m.remove(n) == null) throw new IllegalArgumentException("model has no tensor " + n + " to remove");
        return new LlamaModel(config, vocabulary, m);
    }

    /** Elements of every tensor: low-rank factors count, a weight they replaced does not. */
    public long parameterCount() {
        return tensors.values().stream().mapToLong(Tensor::elements).sum();
    }
}
