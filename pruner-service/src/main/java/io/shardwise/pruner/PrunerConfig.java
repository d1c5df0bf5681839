package io.shardwise.pruner;

import io.smallrye.config.ConfigMapping;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The pruner's own settings: {@code shardwise.data-dir} and {@code shardwise.pruner.*} (calibration texts). */
@ConfigMapping(prefix = "shardwise")
public interface PrunerConfig {

    /** shared/data: where the built-in calibration dataset names live. */
    Optional<String> dataDir();

    Pruner pruner();

    interface Pruner {
        /** Extra or overriding calibration dataset names: {@code shardwise.pruner.datasets.<name>=<path>}. */
        Map<String, String> datasets();

        /** Roots that calibration file paths may lie under, besides the data dir and the demo cache. */
        Optional<List<String>> allowedRoots();

        /** The demo model's cache (datasets demo, demo-train); default ~/.cache/shardwise/demo. */
        Optional<String> demoCache();
    }

}
