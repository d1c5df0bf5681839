package io.shardwise.gateway;

import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.work.Topics;
import io.shardwise.kafka.KafkaBrokerResource;
import io.shardwise.proto.v1.Capabilities;
import io.shardwise.proto.v1.CancelJobRequest;
import io.shardwise.proto.v1.CompressionServiceGrpc;
import io.shardwise.proto.v1.EvalTask;
import io.shardwise.proto.v1.GetJobRequest;
import io.shardwise.proto.v1.Job;
import io.shardwise.proto.v1.JobControl;
import io.shardwise.proto.v1.JobEvent;
import io.shardwise.proto.v1.JobState;
import io.shardwise.proto.v1.ListJobsRequest;
import io.shardwise.proto.v1.ListTechniquesRequest;
import io.shardwise.proto.v1.ParamSpec;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.StageKind;
import io.shardwise.proto.v1.StageTask;
import io.shardwise.proto.v1.SubmitJobRequest;
import io.shardwise.proto.v1.Technique;
import io.shardwise.proto.v1.WatchJobRequest;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The gateway over real gRPC against a real embedded KRaft broker; the services' side is played by the test. */
@QuarkusTest
@QuarkusTestResource(KafkaBrokerResource.class)
@QuarkusTestResource(GatewayTestDirs.class)
class CompressionGrpcServiceTest {
    static final String GOOD = """
            stages:
              - prune: { method: magnitude, sparsity: 0.5, pattern: unstructured }
              - quantize: { method: rtn, type: Q8_0 }
            evaluate: { suites: [tinystories] }
            """;
    static final List<Topics> QUEUES = List.of(Topics.PRUNE_TASKS, Topics.DISTILL_TASKS, Topics.QUANTIZE_TASKS,
            Topics.EVAL_TASKS, Topics.JOB_EVENTS, Topics.CONTROL);
    static ManagedChannel channel;
    static boolean capabilitiesPublished;

    @ConfigProperty(name = "kafka.bootstrap.servers")
    String bootstrap;
    @ConfigProperty(name = "shardwise.grpc-port")
    int port;

    CompressionServiceGrpc.CompressionServiceBlockingStub api;
    Path models;

    @BeforeEach
    void setUp() throws Exception {
        if (channel == null) channel = ManagedChannelBuilder.forAddress("localhost", port).usePlaintext().build();
        api = CompressionServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
        models = GatewayTestDirs.root.resolve("models");
        if (!Files.exists(models.resolve("tiny.bin"))) TinyModelFiles.write(models, "tiny.bin", 42);
        if (!capabilitiesPublished) {
            publishCapabilities();
            capabilitiesPublished = true;
        }
        await(() -> api.listTechniques(ListTechniquesRequest.getDefaultInstance()).getServicesCount() == 3, "capabilities to arrive");
    }

    @AfterAll
    static void closeChannel() {
        if (channel != null) channel.shutdownNow();
    }

    void publishCapabilities() throws Exception {
        ParamSpec sparsity = ParamSpec.newBuilder().setName("sparsity").setMin(0).setMax(1).setDefaultValue("0.5").build();
        ParamSpec pattern = ParamSpec.newBuilder().setName("pattern").setDefaultValue("unstructured").build();
        ParamSpec type = ParamSpec.newBuilder().setName("type").setRequired(true)
                .addAllAllowed(List.of("Q8_0", "Q4_0", "I8_ASYM_CH", "I4_ASYM_CH")).build();
        ParamSpec ignore = ParamSpec.newBuilder().setName("ignore").build();
        ParamSpec steps = ParamSpec.newBuilder().setName("steps").setMin(1).setMax(100000).setDefaultValue("100").build();
        long gib = 1L << 30;
        publish(Capabilities.newBuilder().setService("pruner").setKind(StageKind.PRUNE).setMemoryBytes(gib)
                .addTechniques(Technique.newBuilder().setMethod("magnitude").setKind(StageKind.PRUNE).addParams(sparsity).addParams(pattern))
                .addTechniques(JobIntakeLayerTest.shortGptLike()).build());
        publish(Capabilities.newBuilder().setService("quantizer").setKind(StageKind.QUANTIZE).setMemoryBytes(gib)
                .addTechniques(Technique.newBuilder().setMethod("rtn").setKind(StageKind.QUANTIZE).addParams(type).addParams(ignore)).build());
        publish(Capabilities.newBuilder().setService("distiller").setKind(StageKind.DISTILL).setMemoryBytes(gib)
                .addTechniques(Technique.newBuilder().setMethod("kd").setKind(StageKind.DISTILL).setWholeModel(true).addParams(steps)).build());
    }

    void publish(Capabilities c) throws Exception {
        TestKafka.publish(bootstrap, Topics.CAPABILITIES.topic, c.getService(), c.toByteArray());
    }

    Map<Topics, Integer> queued() {
        Map<Topics, Integer> m = new LinkedHashMap<>();
        for (Topics t : QUEUES) m.put(t, TestKafka.readAll(bootstrap, t.topic).size());
        return m;
    }

    void assertRefused(Status.Code code, String messagePart, String modelUri, String recipe) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> api.submitJob(SubmitJobRequest.newBuilder().setModelUri(modelUri).setRecipeYaml(recipe).build()));
        assertEquals(code, e.getStatus().getCode(), e.getStatus().getDescription());
        assertTrue(e.getStatus().getDescription().contains(messagePart), "'" + messagePart + "' not in: " + e.getStatus().getDescription());
    }

    @Test
    void badInputIsRefusedWithTheFieldAtFaultAndNothingIsQueued() throws Exception {
        Map<Topics, Integer> before = queued();
        String tiny = "file:" + models.resolve("tiny.bin");
        Status.Code invalid = Status.Code.INVALID_ARGUMENT;

        assertRefused(invalid, "recipe_yaml: recipe: YAML syntax error at line 3", tiny, "stages:\n  - prune: { method: magnitude\n  - quantize: { method: rtn }\n");
        assertRefused(invalid, "stages[0]: unknown stage kind 'prun' (known: prune, distill, quantize)", tiny, "stages:\n  - prun: { method: magnitude }\n");
        assertRefused(invalid, "stages[1].quantize.method: missing", tiny, "stages:\n  - prune: { method: magnitude }\n  - quantize: { type: Q8_0 }\n");
        assertRefused(invalid, "stages[0].prune.method: unknown method 'wanda' for prune (known: magnitude, shortgpt)", tiny, "stages:\n  - prune: { method: wanda }\n");
        assertRefused(invalid, "stages[1].quantize.method: unknown method 'gptq' for quantize (known: rtn)", tiny,
                "stages:\n  - prune: { method: magnitude }\n  - quantize: { method: gptq, bits: 4 }\n");
        assertRefused(invalid, "stages[0].quantize.bits: unknown parameter of rtn (known: type, ignore)", tiny, "stages:\n  - quantize: { method: rtn, type: Q8_0, bits: 4 }\n");
        assertRefused(invalid, "stages[0].quantize.type: 'Q3_K' is not one of Q8_0, Q4_0, I8_ASYM_CH, I4_ASYM_CH", tiny, "stages:\n  - quantize: { method: rtn, type: Q3_K }\n");
        assertRefused(invalid, "stages[0].quantize.type: missing (required by rtn)", tiny, "stages:\n  - quantize: { method: rtn }\n");
        assertRefused(invalid, "stages[0].prune.sparsity: 1.5 is outside [0, 1]", tiny, "stages:\n  - prune: { method: magnitude, sparsity: 1.5 }\n");
        assertRefused(invalid, "model_uri: missing", "", GOOD);

        assertRefused(Status.Code.NOT_FOUND, "model_uri: " + models.resolve("nope.bin") + " does not exist", "file:" + models.resolve("nope.bin"), GOOD);
        assertRefused(Status.Code.NOT_FOUND, "does not exist", "nope.bin", GOOD);

        Path elsewhere = GatewayTestDirs.root.resolve("elsewhere");
        TinyModelFiles.write(elsewhere, "secret.bin", 1);
        assertRefused(Status.Code.PERMISSION_DENIED, "outside the allowed model roots", "file:" + elsewhere.resolve("secret.bin"), GOOD);
        assertRefused(Status.Code.PERMISSION_DENIED, "outside the allowed model roots", "../elsewhere/secret.bin", GOOD);
        assertRefused(Status.Code.PERMISSION_DENIED, "outside the allowed model roots", "file:" + models.resolve("../elsewhere/secret.bin"), GOOD);
        Path link = models.resolve("link.bin");
        if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) Files.createSymbolicLink(link, elsewhere.resolve("secret.bin"));
        assertRefused(Status.Code.PERMISSION_DENIED, "(a symlink to " + elsewhere.resolve("secret.bin").toRealPath() + ")", "file:" + link, GOOD);

        Path cut = TinyModelFiles.truncated(models, "cut.bin");
        assertRefused(Status.Code.FAILED_PRECONDITION, "model_uri: " + cut, "file:" + cut, GOOD);
        assertRefused(Status.Code.FAILED_PRECONDITION, "truncated", "file:" + cut, GOOD);
        Files.write(models.resolve("junk.bin"), new byte[64]);
        assertRefused(Status.Code.FAILED_PRECONDITION, "model_uri: " + models.resolve("junk.bin"), "file:" + models.resolve("junk.bin"), GOOD);

        assertEquals(before, queued(), "a refused job queues nothing");
    }

    @Test
    void submittedJobFansOutStageTasksAndFollowsShardEvents() throws Exception {
        Job job = api.submitJob(SubmitJobRequest.newBuilder().setModelUri("tiny.bin").setRecipeYaml(GOOD).build());
        String id = job.getJobId();
        assertEquals(JobState.RUNNING, job.getState());
        assertEquals(2, job.getStagesCount());
        assertEquals(4, job.getStages(0).getShardCount());
        assertFalse(job.getSourceManifest().isEmpty());

        List<StageTask> prune = tasks(Topics.PRUNE_TASKS, id);
        assertEquals(List.of("embed", "block.0", "block.1", "head"), prune.stream().map(t -> t.getShard().getShardId()).toList());
        for (StageTask t : prune) {
            assertEquals(job.getSourceManifest(), t.getInputManifest());
            assertEquals("magnitude", t.getStage().getMethod());
            assertEquals("0.5", t.getStage().getParamsOrThrow("sparsity"));
            assertEquals(4, t.getShardCount());
        }
        List<EvalTask> evals = TestKafka.readAll(bootstrap, Topics.EVAL_TASKS.topic).stream().filter(r -> id.equals(r.key()))
                .map(r -> parse(EvalTask::parseFrom, r.value())).toList();
        assertEquals(List.of(-1), evals.stream().map(EvalTask::getStageIndex).toList());

        List<JobEvent> watched = new CopyOnWriteArrayList<>();
        CountDownLatch ended = new CountDownLatch(1);
        CompressionServiceGrpc.newStub(channel).watchJob(WatchJobRequest.newBuilder().setJobId(id).build(), new StreamObserver<>() {
            public void onNext(JobEvent e) { watched.add(e); }
            public void onError(Throwable t) { ended.countDown(); }
            public void onCompleted() { ended.countDown(); }
        });

        // the services' side: answer every prune task on shardwise.shard.events, one twice
        ModelStore store = new ModelStore(new FileBlobStore(GatewayTestDirs.root.resolve("blobs")));
        for (StageTask t : prune) TestKafka.publish(bootstrap, Topics.SHARD_EVENTS.topic, id, ShardAnswers.answer(store, t).toByteArray());
        TestKafka.publish(bootstrap, Topics.SHARD_EVENTS.topic, id, ShardAnswers.answer(store, prune.get(2)).toByteArray());
        await(() -> tasks(Topics.QUANTIZE_TASKS, id).size() == 4, "stage 1's tasks");
        Job running = api.getJob(GetJobRequest.newBuilder().setJobId(id).build());
        assertTrue(running.getStages(0).getCompleted());
        assertEquals(4, running.getStages(0).getShardsDone());
        String pruned = running.getStages(0).getOutputManifest();
        assertEquals(pruned, tasks(Topics.QUANTIZE_TASKS, id).getFirst().getInputManifest());
        assertEquals(job.getSourceManifest(), store.manifest(pruned).getParent());

        Job cancelled = api.cancelJob(CancelJobRequest.newBuilder().setJobId(id).setReason("test over").build());
        assertEquals(JobState.CANCELLED, cancelled.getState());
        List<JobControl> control = TestKafka.readAll(bootstrap, Topics.CONTROL.topic).stream().filter(r -> id.equals(r.key()))
                .map(r -> parse(JobControl::parseFrom, r.value())).toList();
        assertTrue(control.getFirst().getCancelled());
        assertEquals(Status.Code.FAILED_PRECONDITION, assertThrows(StatusRuntimeException.class,
                () -> api.cancelJob(CancelJobRequest.newBuilder().setJobId(id).build())).getStatus().getCode());

        assertTrue(ended.await(30, TimeUnit.SECONDS), "WatchJob ends when the job does");
        List<Integer> doneCounts = watched.stream().filter(JobEvent::hasShardCompleted).map(e -> e.getShardCompleted().getDoneCount()).toList();
        assertEquals(List.of(1, 2, 3, 4), doneCounts, "the duplicate ShardDone was dropped");
        assertTrue(watched.getFirst().hasSubmitted());
        assertTrue(watched.getLast().hasFinished());
        for (int i = 0; i < watched.size(); i++) assertEquals(i + 1, watched.get(i).getSeq());
        // the job log on Kafka holds the same events
        List<JobEvent> log = TestKafka.readAll(bootstrap, Topics.JOB_EVENTS.topic).stream().filter(r -> id.equals(r.key()))
                .map(r -> parse(JobEvent::parseFrom, r.value())).toList();
        assertEquals(watched, log);

        // resumable: from_seq skips what the client has
        List<JobEvent> tail = new CopyOnWriteArrayList<>();
        CompressionServiceGrpc.newBlockingStub(channel).watchJob(WatchJobRequest.newBuilder().setJobId(id).setFromSeq(log.size() - 2).build()).forEachRemaining(tail::add);
        assertEquals(log.subList(log.size() - 2, log.size()), tail);

        var listed = api.listJobs(ListJobsRequest.newBuilder().setState(JobState.CANCELLED).build());
        assertTrue(listed.getJobsList().stream().anyMatch(j -> j.getJobId().equals(id)));
        assertTrue(api.listJobs(ListJobsRequest.newBuilder().setState(JobState.SUCCEEDED).build()).getJobsList().isEmpty());
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> api.getJob(GetJobRequest.newBuilder().setJobId("job-none").build())).getStatus().getCode());
    }

    /** A layer-removal stage over Kafka: its plan task first, block.0's ShardDone removes the block, the Q8_0 stage reads the one block left. */
    @Test
    void aStageThatRemovesABlockLeavesTheNextStageTheRenumberedModel() throws Exception {
        String recipe = "stages:\n  - prune: { method: shortgpt, layers: 1 }\n  - quantize: { method: rtn, type: Q8_0 }\nevaluate: { suites: [tinystories] }\n";
        String id = api.submitJob(SubmitJobRequest.newBuilder().setModelUri("tiny.bin").setRecipeYaml(recipe).build()).getJobId();
        ModelStore store = new ModelStore(new FileBlobStore(GatewayTestDirs.root.resolve("blobs")));
        List<StageTask> first = tasks(Topics.PRUNE_TASKS, id);
        assertEquals(List.of("plan"), first.stream().map(t -> t.getShard().getShardId()).toList());
        String plan = store.blobs().put("remove block 0".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        TestKafka.publish(bootstrap, Topics.SHARD_EVENTS.topic, id, LayerRemovalStageTest.event(first.getFirst(), ShardDone.newBuilder().setPlan(plan).build()).toByteArray());
        await(() -> tasks(Topics.PRUNE_TASKS, id).size() == 5, "the block tasks after the plan");
        for (StageTask t : tasks(Topics.PRUNE_TASKS, id)) {
            if (t.getShard().getShardId().equals("plan")) continue;
            assertEquals(plan, t.getPlan());
            ShardDone.Builder d = ShardDone.newBuilder();
            if (t.getShard().getShardId().equals("block.0")) d.addAllRemoved(t.getShard().getTensorsList());
            TestKafka.publish(bootstrap, Topics.SHARD_EVENTS.topic, id, LayerRemovalStageTest.event(t, d.build()).toByteArray());
        }
        await(() -> tasks(Topics.QUANTIZE_TASKS, id).size() == 3, "stage 1's tasks on the block left");
        String removed = api.getJob(GetJobRequest.newBuilder().setJobId(id).build()).getStages(0).getOutputManifest();
        var m = store.manifest(removed);
        assertEquals(1, m.getConfig().getNLayers());
        List<StageTask> quantize = tasks(Topics.QUANTIZE_TASKS, id);
        assertEquals(List.of("embed", "block.0", "head"), quantize.stream().map(t -> t.getShard().getShardId()).toList());
        for (StageTask t : quantize) {
            assertEquals(removed, t.getInputManifest());
            TestKafka.publish(bootstrap, Topics.SHARD_EVENTS.topic, id, ShardAnswers.answer(store, t).toByteArray()); // reads the task's tensors from the manifest
        }
        await(() -> api.getJob(GetJobRequest.newBuilder().setJobId(id).build()).getStages(1).getCompleted(), "the Q8_0 stage on the smaller model");
        var last = store.manifest(api.getJob(GetJobRequest.newBuilder().setJobId(id).build()).getStages(1).getOutputManifest());
        assertEquals(1, last.getConfig().getNLayers());
        assertEquals(m.getTensorsCount(), last.getTensorsCount());
        api.cancelJob(CancelJobRequest.newBuilder().setJobId(id).setReason("test over").build());
    }

    @Test
    void listJobsPages() {
        for (int i = 0; i < 3; i++) api.submitJob(SubmitJobRequest.newBuilder().setModelUri("tiny.bin").setRecipeYaml(GOOD).build());
        List<Job> all = api.listJobs(ListJobsRequest.getDefaultInstance()).getJobsList();
        assertTrue(all.size() >= 3);
        List<String> paged = new java.util.ArrayList<>();
        String token = "";
        do {
            var page = api.listJobs(ListJobsRequest.newBuilder().setPageSize(2).setPageToken(token).build());
            assertTrue(page.getJobsCount() <= 2);
            page.getJobsList().forEach(j -> paged.add(j.getJobId()));
            token = page.getNextPageToken();
        } while (!token.isEmpty());
        assertEquals(all.stream().map(Job::getJobId).toList(), paged);
    }

    @Test
    void healthIsServingAndReflectionListsTheApi() throws Exception {
        HealthCheckResponse r = HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.getDefaultInstance());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, r.getStatus());

        List<String> services = new CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        var requests = ServerReflectionGrpc.newStub(channel).serverReflectionInfo(new StreamObserver<ServerReflectionResponse>() {
            public void onNext(ServerReflectionResponse v) { v.getListServicesResponse().getServiceList().forEach(x -> services.add(x.getName())); }
            public void onError(Throwable t) { done.countDown(); }
            public void onCompleted() { done.countDown(); }
        });
        requests.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
        requests.onCompleted();
        assertTrue(done.await(30, TimeUnit.SECONDS));
        assertTrue(services.contains("shardwise.v1.CompressionService"), services.toString());
        assertTrue(services.contains("grpc.health.v1.Health"), services.toString());
    }

    List<StageTask> tasks(Topics topic, String jobId) {
        return TestKafka.readAll(bootstrap, topic.topic).stream().filter(r -> r.key() != null && r.key().startsWith(jobId + "/"))
                .map(r -> parse(StageTask::parseFrom, r.value()))
                .sorted(java.util.Comparator.comparingInt(t -> t.getShard().getIndex())).toList(); // keyed per shard: no order across partitions
    }

    interface Parser<T> {
        T parse(byte[] b) throws Exception;
    }

    static <T> T parse(Parser<T> p, byte[] b) {
        try {
            return p.parse(b);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(200);
        }
    }
}
