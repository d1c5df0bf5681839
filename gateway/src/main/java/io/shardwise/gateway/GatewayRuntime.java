package io.shardwise.gateway;

import io.quarkus.runtime.StartupEvent;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.work.Topics;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Wires the plain parts (coordinator, intake, capabilities) to Kafka. At startup it replays
 * shardwise.job.events into the coordinator before anything is served or consumed.
 */
@ApplicationScoped
public class GatewayRuntime {
    private static final Logger LOG = Logger.getLogger(GatewayRuntime.class);

    @Inject
    GatewayConfig config;
    @Inject
    KafkaOutbox outbox;
    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;

    private final CapabilityRegistry capabilities = new CapabilityRegistry();
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private volatile JobCoordinator coordinator;
    private volatile JobIntake intake;

    void onStart(@Observes StartupEvent ev) {
        try {
            Files.createDirectories(config.outputDir());
            ModelStore store = new ModelStore(new FileBlobStore(config.blobRoot()));
            coordinator = new JobCoordinator(new BlobStageOutputs(store, config.outputDir()), System::currentTimeMillis);
            intake = new JobIntake(capabilities, new ModelRoots(config.modelRoots()), store, config.outputDir(), config.calibrationMarginBytes(),
                    config.dataDir(), config.demoCache().orElse(io.shardwise.core.train.DemoModel.defaultCacheDir()));
            int n = JobLogReplay.readAll(bootstrap, Topics.JOB_EVENTS.topic, Duration.ofSeconds(config.replayTimeoutSeconds()), coordinator::replay);
            LOG.infof("replayed %d job events from %s (%d jobs)", n, Topics.JOB_EVENTS.topic, coordinator.jobs(io.shardwise.proto.v1.JobState.JOB_STATE_UNSPECIFIED).size());
            decide(coordinator::resume);
            ready.complete(null);
        } catch (IOException e) {
            ready.completeExceptionally(e);
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            ready.completeExceptionally(e);
            throw e;
        }
    }

    /** Blocks until the job log is replayed; false if that did not happen in time. */
    public boolean awaitReady(long seconds) {
        try {
            ready.get(seconds, TimeUnit.SECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (Exception e) {
            throw new IllegalStateException("gateway failed to start: " + e.getMessage(), e);
        }
    }

    /**
     * Runs one coordinator decision and publishes its messages, holding the coordinator's lock while
     * sending so one job's events reach the log in sequence order; returns once the broker has them.
     */
    public void decide(Supplier<List<Outbound>> decision) {
        CompletableFuture<Void> sent;
        synchronized (coordinator) {
            List<Outbound> out = decision.get();
            if (out.isEmpty()) return;
            sent = outbox.send(out);
        }
        sent.join();
    }

    public JobCoordinator coordinator() {
        return coordinator;
    }

    public JobIntake intake() {
        return intake;
    }

    public CapabilityRegistry capabilities() {
        return capabilities;
    }
}
