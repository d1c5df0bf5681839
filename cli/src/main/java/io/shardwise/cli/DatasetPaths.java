package io.shardwise.cli;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Dataset names of recipes (TEAM conventions) to text files, for the in-process chain. */
final class DatasetPaths {
    private DatasetPaths() {
    }

    static Path resolve(String suite, RepoLayout layout) throws NoSuchFileException {
        Path p = switch (suite) {
            case "tinystories" -> shared(layout, "text/tinystories/eval_sample.txt");
            case "tinystories-train" -> shared(layout, "text/tinystories/train_head.txt");
            case "wikitext2" -> shared(layout, "text/wikitext-2/wikitext2_test.txt");
            case "demo" -> heldOut();
            default -> Path.of(suite.startsWith("file:") ? suite.substring(5) : suite);
        };
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
