package io.shardwise.servicekit;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.io.IOException;
import java.nio.file.Path;

/** The service's blob store: one {@link FileBlobStore} at {@code shardwise.blob-root}. */
@ApplicationScoped
public class ModelStoreProducer {

    @Produces
    @Singleton
    ModelStore modelStore(ServiceConfig config) throws IOException {
        return new ModelStore(new FileBlobStore(Path.of(config.blobRoot())));
    }
}
