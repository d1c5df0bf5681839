package io.shardwise.cli;

import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.ShardTechnique;
import io.shardwise.distiller.KdDatasets;
import io.shardwise.distiller.KdTechnique;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.pruner.MagnitudeTechnique;
import io.shardwise.quantizer.RtnTechnique;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The technique classes the pruner, distiller and quantizer services run, made directly (no CDI),
 * so {@code demo --in-process} calls exactly the code the services call, without Quarkus or Kafka.
 */
final class InProcessTechniques {
    private final List<ShardTechnique> techniques;

    InProcessTechniques(Optional<Path> dataDir, List<Path> allowedRoots) {
        this.techniques = List.of(new MagnitudeTechnique(),
                new KdTechnique(new KdDatasets(dataDir, Map.of(), allowedRoots, DemoModel.defaultCacheDir())),
                new RtnTechnique());
    }

    Optional<ShardTechnique> find(StageKind kind, String method) {
        return techniques.stream().filter(t -> t.kind() == kind && t.method().equals(method)).findFirst();
    }

    List<String> methods(StageKind kind) {
        return techniques.stream().filter(t -> t.kind() == kind).map(ShardTechnique::method).sorted().toList();
    }
}
