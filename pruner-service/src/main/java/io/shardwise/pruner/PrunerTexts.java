package io.shardwise.pruner;

import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.TextDatasets;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.nio.file.Path;
import java.util.List;

/** The calibration texts of prune stages: {@link TextDatasets} for the field {@code prune.calibration}, from {@link PrunerConfig}. */
@Singleton
final class PrunerTexts {
    @Produces
    @Singleton
    TextDatasets texts(PrunerConfig config) {
        return TextDatasets.withDemo("prune.calibration", config.dataDir().map(Path::of), config.pruner().datasets(),
                config.pruner().allowedRoots().orElse(List.of()).stream().map(Path::of).toList(),
                config.pruner().demoCache().map(Path::of).orElse(DemoModel.defaultCacheDir()));
    }
}
