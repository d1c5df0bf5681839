package io.shardwise.gateway;

import io.shardwise.core.work.Topics;
import io.shardwise.kafka.KraftBroker;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.StageTask;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A restarted gateway's view: the job log written to a real broker, read back whole, rebuilds the same jobs. */
class JobLogReplayTest {
    static KraftBroker broker;

    @BeforeAll
    static void start() {
        broker = KraftBroker.startTemporary();
    }

    @AfterAll
    static void stop() {
        if (broker != null) broker.close();
    }

    @Test
    void replayingTheTopicRebuildsEveryJob(@TempDir Path tmp) throws Exception {
        CoordinatorFixture fx = new CoordinatorFixture(tmp);
        List<Outbound> out = new ArrayList<>(fx.coordinator.submit(fx.submitPlan("job-k1")));
        out.addAll(fx.coordinator.submit(fx.submitPlan("job-k2")));
        for (Outbound o : List.copyOf(out)) {
            if (o.message() instanceof StageTask t && t.getJobId().equals("job-k1")) out.addAll(fx.coordinator.onShardEvent(fx.answer(t)));
        }
        out.addAll(fx.coordinator.cancel("job-k2", "replay test"));
        String topic = "test.job.events";
        for (Outbound o : out) {
            if (o.topic() == Topics.JOB_EVENTS) TestKafka.publish(broker.bootstrapServers(), topic, o.key(), o.message().toByteArray());
        }

        JobCoordinator rebuilt = fx.newCoordinator();
        int n = JobLogReplay.readAll(broker.bootstrapServers(), topic, Duration.ofSeconds(30), rebuilt::replay);
        assertEquals(CoordinatorFixture.events(out).size(), n);
        assertEquals(fx.coordinator.jobs(JobState.JOB_STATE_UNSPECIFIED), rebuilt.jobs(JobState.JOB_STATE_UNSPECIFIED));
        assertEquals(JobState.RUNNING, rebuilt.job("job-k1").orElseThrow().getState());
        var k1 = rebuilt.job("job-k1").orElseThrow();
        assertEquals(true, k1.getStages(0).getCompleted());
        assertEquals(0, k1.getStages(1).getShardsDone(), "distill started, its one shard pending");
        assertEquals(JobState.CANCELLED, rebuilt.job("job-k2").orElseThrow().getState());
        for (String id : List.of("job-k1", "job-k2")) assertEquals(fx.coordinator.events(id), rebuilt.events(id));
        assertEquals(0, JobLogReplay.readAll(broker.bootstrapServers(), "test.empty", Duration.ofSeconds(30), e -> { }));
    }
}
