package io.shardwise.servicekit;

import com.google.protobuf.InvalidProtocolBufferException;
import io.shardwise.proto.v1.JobControl;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.reactive.messaging.Incoming;
import org.jboss.logging.Logger;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Jobs cancelled via {@code shardwise.control}. The channel uses a consumer group per instance, reading from
 * the start, so every instance (and a restarted one) knows every cancellation.
 */
@ApplicationScoped
public class CancelledJobs {
    private static final Logger LOG = Logger.getLogger(CancelledJobs.class);
    private final Set<String> cancelled = ConcurrentHashMap.newKeySet();

    @Incoming("control")
    public void onControl(byte[] bytes) {
        try {
            JobControl c = JobControl.parseFrom(bytes);
            if (c.getJobId().isEmpty()) {
                LOG.warn("ignoring a JobControl without job_id on shardwise.control");
            } else if (c.getCancelled()) {
                if (cancelled.add(c.getJobId())) LOG.infof("[job %s] cancelled (%s): its tasks will be skipped", c.getJobId(), c.getReason());
            }
        } catch (InvalidProtocolBufferException e) {
            LOG.warnf("ignoring a record on shardwise.control that is not a JobControl: %s", e.getMessage());
        }
    }

    public boolean isCancelled(String jobId) {
        return cancelled.contains(jobId);
    }
}
