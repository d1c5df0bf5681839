package io.shardwise.gateway;

import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.core.tensor.Tensor;
import io.shardwise.core.tensor.TensorCodecs;
import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.StageTask;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Stands in for the technique services in gateway tests: answers a StageTask as a technique would
 * (prune zeroes weights below 0.1, distill scales by 0.99, quantize re-encodes to F16), storing real
 * tensors in the blob store and returning a real ShardDone.
 */
final class ShardAnswers {
    private ShardAnswers() {
    }

    static ShardEvent answer(ModelStore store, StageTask task) throws Exception {
        var input = store.manifest(task.getInputManifest());
        Map<String, Tensor> tensors = store.tensors(input, task.getShard().getTensorsList());
        List<Tensor> out = new ArrayList<>();
        long zeros = 0, elements = 0;
        for (Tensor t : tensors.values()) {
            float[] v = TensorCodecs.dequantize(t);
            GgmlType type = GgmlType.F32;
            switch (task.getStage().getKind()) {
                case PRUNE -> {
                    for (int i = 0; i < v.length; i++) if (Math.abs(v[i]) < 0.1f) v[i] = 0;
                }
                case DISTILL -> {
                    for (int i = 0; i < v.length; i++) v[i] *= 0.99f;
                }
                case QUANTIZE -> type = GgmlType.F16;
                default -> throw new IllegalStateException();
            }
            for (float f : v) if (f == 0) zeros++;
            elements += v.length;
            out.add(TensorCodecs.quantize(t.name(), t.shape(), v, type));
        }
        ShardDone done = ShardDone.newBuilder().addAllTensors(store.storeTensors(out))
                .putStats("zeros", zeros).putStats("elements", elements)
                .addNotes(task.getShard().getShardId() + ": " + out.size() + " tensors").build();
        return ShardEvent.newBuilder().setJobId(task.getJobId()).setStageIndex(task.getStage().getIndex())
                .setShardId(task.getShard().getShardId()).setInstance("test-1").setDone(done).build();
    }

}
