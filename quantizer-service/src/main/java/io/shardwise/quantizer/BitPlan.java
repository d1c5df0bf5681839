package io.shardwise.quantizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.shardwise.core.blob.BlobStore;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.core.tensor.TensorType;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A stage's mixed-precision plan as its plan shard stores it (a JSON blob: target and planned bpw, tensor -> type)
 * and every other shard of the stage reads it.
 */
public record BitPlan(double targetBpw, double plannedBpw, Map<String, TensorType> types) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public BitPlan {
        types = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(types));
    }

    public byte[] toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("target_bpw", targetBpw);
        root.put("planned_bpw", plannedBpw);
        ObjectNode t = root.putObject("types");
        types.forEach((name, type) -> t.put(name, type.typeName()));
        return root.toString().getBytes(StandardCharsets.UTF_8);
    }

    public String store(BlobStore blobs) throws IOException {
        return blobs.put(toJson());
    }

    /** Reads the plan blob {@code digest}; a missing, corrupt or malformed blob throws naming the digest. */
    public static BitPlan load(BlobStore blobs, String digest) {
        byte[] bytes;
        try {
            if (!blobs.exists(digest)) throw new IllegalArgumentException("plan blob " + digest + " does not exist");
            blobs.verify(digest);
            bytes = blobs.get(digest);
        } catch (IOException e) {
            throw new IllegalArgumentException("plan blob " + digest + " cannot be read: " + e.getMessage(), e);
        }
        return parse(bytes, digest);
    }

    static BitPlan parse(byte[] bytes, String digest) {
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (IOException e) {
            throw new IllegalArgumentException("plan blob " + digest + " is not a plan (JSON): " + e.getMessage());
        }
        if (root == null || !root.isObject() || !root.path("types").isObject() || !root.path("target_bpw").isNumber()
                || !root.path("planned_bpw").isNumber()) {
            throw new IllegalArgumentException("plan blob " + digest + " is not a plan: needs target_bpw, planned_bpw and types");
        }
        Map<String, TensorType> types = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.get("types").properties()) {
            TensorType type;
            try {
                type = TensorType.parse(e.getValue().asText());
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException("plan blob " + digest + ": tensor " + e.getKey() + " has an unknown type '" + e.getValue().asText() + "'");
            }
            if (!TensorCodecs.supports(type)) throw new IllegalArgumentException("plan blob " + digest + ": tensor " + e.getKey() + " has type " + type.typeName() + ", which has no codec");
            types.put(e.getKey(), type);
        }
        return new BitPlan(root.get("target_bpw").asDouble(), root.get("planned_bpw").asDouble(), types);
    }
}
