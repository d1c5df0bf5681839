package io.shardwise.cli;

import io.shardwise.core.work.TextDatasets;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Dataset names of recipes to text files for the in-process chain (the services' names: {@link TextDatasets}). */
final class DatasetPaths {
    private DatasetPaths() {
    }

    static Path resolve(String suite, RepoLayout layout) throws NoSuchFileException {
        String builtIn = TextDatasets.BUILT_IN.get(suite);
        Path p = builtIn != null ? shared(layout, builtIn)
                : suite.equals("demo") ? heldOut()
                : Path.of(suite.startsWith("file:") ? suite.substring(5) : suite);
        if (!Files.isRegularFile(p)) throw new NoSuchFileException("dataset '" + suite + "': " + p + " is not a file");
        return p;
    }

    private static Path heldOut() throws NoSuchFileException {
        try {
            return DemoModels.heldOutText().orElseThrow(() -> new NoSuchFileException("dataset 'demo': the demo model is not trained yet (run shardwise demo once)"));
        } catch (NoSuchFileException e) {
            throw e;
        } catch (java.io.IOException e) {
            throw new NoSuchFileException("dataset 'demo': " + e.getMessage());
        }
    }

    private static Path shared(RepoLayout layout, String rel) throws NoSuchFileException {
        return layout.shared().orElseThrow(() -> new NoSuchFileException("../shared/data (needed for this dataset) is absent"))
                .resolve("data").resolve(rel);
    }
}
