package io.shardwise.servicekit;

import io.quarkus.runtime.StartupEvent;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.Technique;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;

/** On startup, tells the gateway what this service can do (shardwise.capabilities, key = service name). */
@ApplicationScoped
public class CapabilitiesAnnouncer {

    @Inject
    ServiceConfig config;
    @Inject
    TechniqueRegistry techniques;
    @Inject
    EventPublisher publisher;

    void onStart(@Observes StartupEvent ev) {
        publisher.capabilities(capabilities());
    }

    public Capabilities capabilities() {
        Capabilities.Builder c = Capabilities.newBuilder().setService(config.serviceName()).setKind(techniques.kind())
                .setMemoryBytes(config.memoryBytes().orElse(Runtime.getRuntime().maxMemory())).setPublishedAtMs(System.currentTimeMillis());
        for (ShardTechnique t : techniques.all()) {
            Technique d = t.describe();
            c.addTechniques(d.toBuilder().setMethod(t.method()).setKind(t.kind()));
        }
        return c.build();
    }
}
