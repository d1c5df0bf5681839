package io.shardwise.servicekit;

import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.StageKind;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Any;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** The {@link ShardTechnique} beans of this service, by method name; all must share one stage kind. */
@ApplicationScoped
public class TechniqueRegistry {
    private final Map<String, ShardTechnique> byMethod = new TreeMap<>();
    private final StageKind kind;

    @Inject
    public TechniqueRegistry(@Any Instance<ShardTechnique> techniques) {
        StageKind k = null;
        for (ShardTechnique t : techniques) {
            ShardTechnique clash = byMethod.put(t.method(), t);
            if (clash != null) throw new IllegalStateException("two techniques claim method '" + t.method() + "': " + clash.getClass().getName() + " and " + t.getClass().getName());
            if (k != null && k != t.kind()) throw new IllegalStateException("one service serves one stage kind, but " + t.getClass().getName() + " is " + t.kind() + " and others are " + k);
            k = t.kind();
        }
        if (byMethod.isEmpty()) throw new IllegalStateException("no ShardTechnique bean found: a technique service needs at least one @ApplicationScoped ShardTechnique");
        this.kind = k;
    }

    public Optional<ShardTechnique> find(String method) {
        return Optional.ofNullable(byMethod.get(method));
    }

    public StageKind kind() {
        return kind;
    }

    public List<ShardTechnique> all() {
        return List.copyOf(byMethod.values());
    }

    public List<String> methods() {
        return List.copyOf(byMethod.keySet());
    }
}
