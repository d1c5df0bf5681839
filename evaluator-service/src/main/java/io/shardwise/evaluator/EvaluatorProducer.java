package io.shardwise.evaluator;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Builds the plain {@link ModelEvaluator} from the service's config. */
@ApplicationScoped
public class EvaluatorProducer {
    private static final Logger LOG = Logger.getLogger(EvaluatorProducer.class);

    @Produces
    @Singleton
    ModelEvaluator evaluator(EvaluatorConfig config) throws IOException {
        Path blobRoot = Path.of(config.blobRoot());
        ModelStore store = new ModelStore(new FileBlobStore(blobRoot));
        Datasets datasets = new Datasets(config.dataDir().map(Path::of), config.evaluator().datasets(),
                config.evaluator().allowedRoots().orElse(List.of()).stream().map(Path::of).toList());
        ScoreCache cache = ScoreCache.besideBlobs(blobRoot);
        LOG.infof("evaluator: blobs %s, score cache %s, datasets %s", blobRoot.toAbsolutePath(), cache.dir(), datasets.named().keySet());
        return new ModelEvaluator(store, datasets, cache, config.evaluator().threads());
    }
}
