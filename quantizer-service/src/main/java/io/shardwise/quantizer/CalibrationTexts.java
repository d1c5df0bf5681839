package io.shardwise.quantizer;

import io.shardwise.core.train.DemoModel;
import io.shardwise.core.work.TextDatasets;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The calibration texts of quantize stages: {@link TextDatasets} for the field {@code quantize.calibration}. */
public final class CalibrationTexts {
    private final TextDatasets texts;

    public CalibrationTexts(Optional<Path> dataDir, Map<String, String> configured, List<Path> allowedRoots, Path demoCache) {
        this.texts = TextDatasets.withDemo("quantize.calibration", dataDir, configured, allowedRoots, demoCache);
    }

    /** The text file for a dataset name or path; throws naming the dataset and what is wrong. */
    public Path resolve(String dataset) throws IOException {
        return texts.resolve(dataset);
    }

    /** The service's instance, from {@link QuantizerConfig}. */
    @ApplicationScoped
    static final class Producer {
        @Produces
        @ApplicationScoped
        CalibrationTexts texts(QuantizerConfig config) {
            return new CalibrationTexts(config.dataDir().map(Path::of), config.quantizer().datasets(),
                    config.quantizer().allowedRoots().orElse(List.of()).stream().map(Path::of).toList(),
                    config.quantizer().demoCache().map(Path::of).orElse(DemoModel.defaultCacheDir()));
        }
    }
}
