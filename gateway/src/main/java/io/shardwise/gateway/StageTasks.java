package io.shardwise.gateway;

import io.shardwise.proto.v1.ShardDone;
import io.shardwise.proto.v1.ShardRef;
import io.shardwise.proto.v1.StagePlan;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.StageTask;

import java.util.ArrayList;
import java.util.List;

/**
 * Which tasks of a stage go out when (DESIGN.md, Stages): a stage with a plan shard starts with that task alone and
 * issues the others, carrying the plan's digest, once it is done; an independent stage issues every shard at once;
 * a sequential stage issues {@code embed} and the first block, then each block when the one before it is done,
 * with that block's output activations, and the {@code head} after the last block. Pure: the decision depends only
 * on the job's recorded state, so a replayed gateway decides the same.
 */
final class StageTasks {
    /** A ShardDone the stage cannot go on from (a plan shard without a plan, a block without its outputs). */
    static final class Broken extends Exception {
        Broken(String message) {
            super(message);
        }
    }

    private final JobRecord job;
    private final int si;
    private final StagePlan plan;
    private final String input;
    private final long now;

    StageTasks(JobRecord job, int si, String input, long now) {
        this.job = job;
        this.si = si;
        this.plan = job.plan(si);
        this.input = input;
        this.now = now;
    }

    /** The stage's first tasks: its plan shard alone, else {@link #first}. */
    List<StageTask> start() {
        if (plan.hasPlanShard()) return List.of(task(plan.getPlanShard(), "", ""));
        return first("");
    }

    /** Every shard (independent), or the shards outside the block chain and the chain's first (sequential). */
    private List<StageTask> first(String planDigest) {
        List<ShardRef> chain = chain();
        List<StageTask> out = new ArrayList<>();
        for (ShardRef s : plan.getShardsList()) {
            boolean waits = plan.getSequential() && chain.contains(s) && !s.equals(chain.getFirst());
            if (!waits) out.add(task(s, "", planDigest));
        }
        return out;
    }

    /** The tasks {@code shardId}'s ShardDone lets go: the stage's tasks after its plan, the next block of a chain. */
    List<StageTask> after(String shardId, ShardDone done) throws Broken {
        if (job.isPlanShard(si, shardId)) {
            if (done.getPlan().isEmpty()) throw new Broken("the plan shard finished without a plan (ShardDone.plan is empty)");
            return first(done.getPlan());
        }
        if (!plan.getSequential()) return List.of();
        List<ShardRef> chain = chain();
        for (int k = 0; k + 1 < chain.size(); k++) {
            if (!chain.get(k).getShardId().equals(shardId)) continue;
            if (done.getActivations().isEmpty()) {
                throw new Broken("sequential calibration hands this block's outputs to " + chain.get(k + 1).getShardId()
                        + ", but its ShardDone carries no activations (does the method store them in sequential mode?)");
            }
            return List.of(task(chain.get(k + 1), done.getActivations(), job.stage(si).planDigest()));
        }
        return List.of();
    }

    /** The blocks in plan order, then the head: each waits for the one before it in sequential mode. */
    List<ShardRef> chain() {
        List<ShardRef> chain = new ArrayList<>();
        for (ShardRef s : plan.getShardsList()) if (s.getShardId().startsWith(ShardPlanner.BLOCK_PREFIX)) chain.add(s);
        for (ShardRef s : plan.getShardsList()) if (s.getShardId().equals(ShardPlanner.HEAD)) chain.add(s);
        return chain;
    }

    private StageTask task(ShardRef shard, String activations, String planDigest) {
        StageSpec spec = job.recipe.getStages(si);
        return StageTask.newBuilder().setJobId(job.jobId).setStage(spec).setShard(shard).setInputManifest(input)
                .setSourceManifest(job.sourceManifest).setShardCount(plan.getShardsCount()).setIssuedAtMs(now)
                .setActivations(activations).setPlan(planDigest).build();
    }
}
