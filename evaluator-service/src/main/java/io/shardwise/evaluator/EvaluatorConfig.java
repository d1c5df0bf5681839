package io.shardwise.evaluator;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The evaluator's settings (TEAM conventions: shardwise.blob-root, shardwise.data-dir, shardwise.evaluator.*). */
@ConfigMapping(prefix = "shardwise")
public interface EvaluatorConfig {

    /** FileBlobStore root; scores are cached in {@code <blob-root>/../scores}. */
    @WithDefault("${user.home}/.cache/shardwise/blobs")
    String blobRoot();

    /** shared/data: where the built-in dataset names (tinystories, tinystories-train, wikitext2) live. */
    Optional<String> dataDir();

    /** This instance's name in logs. */
    Optional<String> instance();

    Evaluator evaluator();

    interface Evaluator {
        /** Extra or overriding dataset names: {@code shardwise.evaluator.datasets.<name>=<path>}. */
        Map<String, String> datasets();

        /** Roots that file: URIs and absolute dataset paths may lie under, besides the data dir. */
        Optional<List<String>> allowedRoots();

        /** Threads for one perplexity evaluation; 0 = all cores. */
        @WithDefault("0")
        int threads();

        /** Attempts at a task before it is dead-lettered. */
        @WithDefault("2")
        int attempts();
    }
}
