package io.shardwise.distiller;

import io.smallrye.config.ConfigMapping;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The distiller's own settings: {@code shardwise.data-dir} and {@code shardwise.distiller.*}. */
@ConfigMapping(prefix = "shardwise")
public interface DistillerConfig {

    /** shared/data: where the built-in dataset names live. */
    Optional<String> dataDir();

    Distiller distiller();

    interface Distiller {
        /** Extra or overriding dataset names: {@code shardwise.distiller.datasets.<name>=<path>}. */
        Map<String, String> datasets();

        /** Roots that absolute dataset paths may lie under, besides the data dir and the demo cache. */
        Optional<List<String>> allowedRoots();

        /** The demo model's cache (datasets demo, demo-train); default ~/.cache/shardwise/demo. */
        Optional<String> demoCache();
    }
}
