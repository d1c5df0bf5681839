package io.shardwise.cli;

import io.shardwise.core.train.DemoModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Consumer;

/** The built-in demo model (trained on first use, cached under ~/.cache/shardwise/demo) as the CLI uses it. */
final class DemoModels {
    private DemoModels() {
    }

    /** The demo model's checkpoint, training it first if it is not cached. */
    static Path ensureDefault(Consumer<String> progress) throws IOException {
        Optional<DemoModel> cached = DemoModel.cached(DemoModel.defaultCacheDir());
        if (cached.isEmpty()) progress.accept("demo model: not cached yet, training it (once, a few minutes) into " + DemoModel.defaultCacheDir());
        DemoModel d = cached.isPresent() ? cached.get() : DemoModel.ensure(DemoModel.defaultCacheDir(), progress);
        progress.accept(String.format(java.util.Locale.ROOT, "demo model: %s (held-out ppl %.3f, entropy floor %.3f)",
                d.model(), d.evalPpl(), d.floorPpl()));
        return d.model();
    }

    /** The held-out text of the demo model (dataset {@code demo}), if the model is cached. */
    static Optional<Path> heldOutText() throws IOException {
        return DemoModel.cached(DemoModel.defaultCacheDir()).map(DemoModel::evalText);
    }
}
