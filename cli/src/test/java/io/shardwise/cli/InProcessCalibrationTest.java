package io.shardwise.cli;

import io.shardwise.core.blob.FileBlobStore;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.model.LlamaModel;
import io.shardwise.core.model.TensorNames;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.proto.v1.ModelManifest;
import io.shardwise.proto.v1.TensorEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The in-process chain plans calibrated stages as the gateway does (no Kafka): GPTQ sequential calibrates block i+1
 * on compressed block i's outputs, so it differs from independent from block 1 on; an rtn {@code target_bpw} stage
 * runs its plan shard first and every shard quantizes to the plan's types. Small calibration (8 windows of 64 tokens).
 */
class InProcessCalibrationTest {
    static final String CALIB = "calib_samples: 8, calib_seq_len: 64";
    /** An rtn stage with a bits-per-weight budget: the plan shard picks each matrix's type. */
    static final String PLAN_STAGE = "{ method: rtn, target_bpw: 5.5, fallback: Q8_0, " + CALIB + " }";

    /** A 4-bit GPTQ stage in groups of 32 (ffn_down's 172 columns: per channel) in calibration mode {@code mode}. */
    static String gptqStage(String mode) {
        return "{ method: gptq, bits: 4, group_size: 32, fallback: per_channel, calib_mode: " + mode + ", " + CALIB + " }";
    }

    /** A one-stage quantize recipe. */
    static String recipe(String stage, String evaluate) {
        return "stages:\n  - quantize: " + stage + "\nevaluate: " + evaluate + "\n";
    }

    static String gptq(String mode) {
        return recipe(gptqStage(mode), "{ suites: [] }");
    }

    static final String PLAN = recipe(PLAN_STAGE, "{ suites: [] }");

    @Test
    void sequentialGptqCalibratesEachBlockOnTheCompressedBlockBefore(@TempDir Path dir) throws Exception {
        Path model = SharedData.stories260K();
        SharedData.require("text/tinystories/train_head.txt");
        List<String> log = new ArrayList<>();
        InProcessChain chain = new InProcessChain(dir.resolve("blobs"), dir.resolve("out"), RepoLayout.find(), log::add);
        InProcessChain.Result seq = chain.run(model, gptq("sequential"));
        InProcessChain.Result ind = chain.run(model, gptq("independent"));
        log.forEach(System.out::println);
        assertTrue(log.stream().anyMatch(l -> l.contains("(sequential)")), "the sequential stage ran as one");

        ModelStore store = new ModelStore(new FileBlobStore(dir.resolve("blobs")));
        try (Arena arena = Arena.ofConfined()) {
            LlamaModel s = store.load(seq.finalManifest(), arena), i = store.load(ind.finalManifest(), arena);
            int layers = s.config().nLayers();
            assertTrue(layers >= 2, "needs two blocks");
            // block 0 and the embedding see the source activations in both modes: the same bytes
            assertSameBytes(s.tensor(TensorNames.TOKEN_EMBD), i.tensor(TensorNames.TOKEN_EMBD));
            for (String name : TensorNames.blockMatrices(0)) assertSameBytes(s.tensor(name), i.tensor(name));
            // every later block was calibrated on different inputs: each block has at least one changed matrix
            for (int l = 1; l < layers; l++) {
                int changed = 0;
                for (String name : TensorNames.blockMatrices(l)) if (!sameBytes(s.tensor(name), i.tensor(name))) changed++;
                assertTrue(changed > 0, "block " + l + ": sequential equals independent, so it did not see block " + (l - 1) + "'s compressed outputs");
            }
        }
    }

    @Test
    void targetBpwRunsThePlanShardFirstAndEveryShardUsesThePlan(@TempDir Path dir) throws Exception {
        Path model = SharedData.stories260K();
        SharedData.require("text/tinystories/train_head.txt");
        List<String> log = new ArrayList<>();
        InProcessChain.Result r = new InProcessChain(dir.resolve("blobs"), dir.resolve("out"), RepoLayout.find(), log::add).run(model, PLAN);
        log.forEach(System.out::println);
        List<String> shards = log.stream().filter(l -> l.contains(": shard ")).map(l -> l.replaceAll(".*: shard (\\S+).*", "$1")).toList();
        assertEquals("plan", shards.getFirst(), "the plan shard runs first: " + shards);
        assertEquals(1, shards.stream().filter("plan"::equals).count());

        Map<String, Integer> planned = planCounts(log);
        assertTrue(planned.size() >= 2, "a 5.5 bpw budget mixes types: " + planned);
        ModelManifest m = new ModelStore(new FileBlobStore(dir.resolve("blobs"))).manifest(r.finalManifest());
        Map<String, Integer> got = new TreeMap<>();
        double bits = 0, weights = 0;
        for (TensorEntry e : m.getTensorsList()) {
            if (e.getShapeCount() < 2) continue;
            got.merge(e.getType(), 1, Integer::sum);
            long n = e.getShapeList().stream().reduce(1L, (a, b) -> a * b);
            bits += 8.0 * e.getNbytes();
            weights += n;
        }
        assertEquals(planned, got, "the output's matrix types are the plan's, tensor for tensor count");
        assertTrue(bits / weights <= 5.5 + 1e-9, "bpw over the matrices " + bits / weights + " meets the budget");
        assertFalse(got.containsKey("F32"), "every matrix was quantized: " + got);
    }

    /** "plan: Q4_0 for 7 tensors, ..." notes of the plan shard -> type -> tensors. */
    static Map<String, Integer> planCounts(List<String> log) {
        Pattern p = Pattern.compile("note: plan: (\\S+) for (\\d+) tensors");
        Map<String, Integer> m = new TreeMap<>();
        for (String l : log) {
            Matcher x = p.matcher(l);
            if (x.find()) m.merge(x.group(1), Integer.parseInt(x.group(2)), Integer::sum);
        }
        return m;
    }

    static boolean sameBytes(Tensor a, Tensor b) {
        return a.type().typeName().equals(b.type().typeName()) && a.data().byteSize() == b.data().byteSize() && a.data().mismatch(b.data()) == -1;
    }

    static void assertSameBytes(Tensor a, Tensor b) {
        assertTrue(sameBytes(a, b), a.name() + ": " + a.type().typeName() + " vs " + b.type().typeName() + ", bytes differ");
    }
}
