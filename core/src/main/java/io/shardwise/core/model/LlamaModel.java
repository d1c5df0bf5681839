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
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("model has no tensor " + name);
        return t;
    }

    /** The classifier: {@code output.weight}, or the token embedding when they are tied. */
    public Tensor classifier() {
        Tensor out = tensors.get(TensorNames.OUTPUT);
        return out != null ? out : tensor(TensorNames.TOKEN_EMBD);
    }

    public LlamaModel withTensors(Map<String, Tensor> replaced) {
        Map<String, Tensor> m = new LinkedHashMap<>(tensors);
        m.putAll(replaced);
        return new LlamaModel(config, vocabulary, m);
    }

    public long parameterCount() {
        return tensors.values().stream().mapToLong(Tensor::elements).sum();
    }
}
