package io.shardwise.core.format.hf;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import io.shardwise.core.format.ModelFormatException;
import io.shardwise.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The tensors of a Hugging Face checkpoint directory: {@code model.safetensors.index.json}'s weight_map over
 * its shards (each shard mapped once), else {@code model.safetensors}, else the directory's only
 * {@code *.safetensors}. Tensors are views of the mapped files, keyed by HF name.
 */
public record SafetensorsCheckpoint(Path dir, Map<String, Tensor> tensors) {

    public SafetensorsCheckpoint {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    public static SafetensorsCheckpoint open(Path dir, Arena arena) throws IOException {
        Path index = dir.resolve(SafetensorsWriter.INDEX_FILE);
        if (Files.isRegularFile(index)) return openIndexed(dir, index, arena);
        Path single = dir.resolve(SafetensorsWriter.SINGLE_FILE);
        if (!Files.isRegularFile(single)) {
            try (Stream<Path> s = Files.list(dir)) {
                var found = s.filter(p -> p.getFileName().toString().endsWith(".safetensors") && Files.isRegularFile(p)).sorted().toList();
                if (found.isEmpty()) throw new ModelFormatException(dir + ": no " + SafetensorsWriter.INDEX_FILE + ", " + SafetensorsWriter.SINGLE_FILE + " or other *.safetensors file");
                if (found.size() > 1) throw new ModelFormatException(dir + ": " + found.size() + " *.safetensors files but no " + SafetensorsWriter.INDEX_FILE + " saying which tensor is where");
                single = found.get(0);
            }
        }
        return new SafetensorsCheckpoint(dir, SafetensorsFile.read(single, arena).tensors());
    }

    private static SafetensorsCheckpoint openIndexed(Path dir, Path index, Arena arena) throws IOException {
        String src = index.toString();
        JsonNode root;
        try {
            root = SafetensorsFile.JSON.readTree(Files.readString(index));
        } catch (JacksonException e) {
            throw new ModelFormatException(src + ": index is not valid JSON: " + e.getOriginalMessage());
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new ModelFormatException(src + ": weight_map is missing or not an object");
        Path base = dir.toAbsolutePath().normalize();
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) throw new ModelFormatException(src + ": weight_map." + e.getKey() + " is not a file name");
            String name = e.getValue().textValue();
            Path file = base.resolve(name).normalize();
            if (name.isEmpty() || !base.equals(file.getParent())) {
                throw new ModelFormatException(src + ": weight_map." + e.getKey() + " names '" + name + "', not a file in " + dir);
            }
            SafetensorsFile shard = shards.get(name);
            if (shard == null) {
                if (!Files.isRegularFile(file)) throw new ModelFormatException(src + ": weight_map." + e.getKey() + " names " + name + ", which does not exist");
                shard = SafetensorsFile.read(file, arena);
                shards.put(name, shard);
            }
            Tensor t = shard.tensors().get(e.getKey());
            if (t == null) throw new ModelFormatException(src + ": weight_map." + e.getKey() + " names " + name + ", which has no such tensor");
            tensors.put(e.getKey(), t);
        }
        return new SafetensorsCheckpoint(dir, tensors);
    }
}
