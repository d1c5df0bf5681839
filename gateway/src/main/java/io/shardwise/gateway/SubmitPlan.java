package io.shardwise.gateway;

import io.shardwise.proto.v1.Recipe;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StagePlan;

import java.util.List;

/** A validated job, ready to queue: its imported source model, recipe and the shards each stage fans out to. */
public record SubmitPlan(String jobId, String modelUri, Recipe recipe, String sourceManifest,
                         List<ShardRef> sourcePlan, List<StagePlan> stagePlans) {
    public SubmitPlan {
        sourcePlan = List.copyOf(sourcePlan);
        stagePlans = List.copyOf(stagePlans);
        if (stagePlans.size() != recipe.getStagesCount()) {
            throw new IllegalArgumentException("job " + jobId + ": " + stagePlans.size() + " stage plans for " + recipe.getStagesCount() + " stages");
        }
    }
}
