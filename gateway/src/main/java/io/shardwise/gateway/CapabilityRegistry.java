package io.shardwise.gateway;

import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.Technique;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/** What the running services can do, as they last published it on shardwise.capabilities (key = service name). */
public final class CapabilityRegistry {
    private final Map<String, Capabilities> byService = new TreeMap<>();

    public synchronized void put(Capabilities c) {
        byService.put(c.getService(), c);
    }

    /** A tombstone on the compacted topic: the service is gone. */
    public synchronized void remove(String service) {
        byService.remove(service);
    }

    public synchronized List<Capabilities> all() {
        return List.copyOf(byService.values());
    }

    /** A technique offered for a stage, with the service that offers it. */
    public record Offer(Capabilities service, Technique technique) {
    }

    public synchronized Optional<Offer> find(StageKind kind, String method) {
        Offer best = null;
        for (Capabilities c : byService.values()) {
            for (Technique t : c.getTechniquesList()) {
                if (kindOf(c, t) == kind && t.getMethod().equals(method)) {
                    // several services may offer one method: plan against the roomiest
                    if (best == null || roomier(c, best.service())) best = new Offer(c, t);
                }
            }
        }
        return Optional.ofNullable(best);
    }

    public synchronized List<String> methods(StageKind kind) {
        TreeSet<String> m = new TreeSet<>();
        for (Capabilities c : byService.values()) for (Technique t : c.getTechniquesList()) if (kindOf(c, t) == kind) m.add(t.getMethod());
        return new ArrayList<>(m);
    }

    private static StageKind kindOf(Capabilities c, Technique t) {
        return t.getKind() != StageKind.STAGE_KIND_UNSPECIFIED ? t.getKind() : c.getKind();
    }

    private static boolean roomier(Capabilities a, Capabilities b) {
        long ma = a.getMemoryBytes() <= 0 ? Long.MAX_VALUE : a.getMemoryBytes();
        long mb = b.getMemoryBytes() <= 0 ? Long.MAX_VALUE : b.getMemoryBytes();
        return ma > mb;
    }
}
