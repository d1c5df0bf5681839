package io.shardwise.gateway;

import io.shardwise.proto.v1.ModelScored;

/**
 * The evaluator ends each EvalTask with one extra {@link ModelScored} whose metric is {@value #EVAL_DONE}
 * (dataset ""): the coordinator counts a stage as evaluated when it arrives, whatever metrics came before.
 */
final class ScoreMarkers {
    static final String EVAL_DONE = "eval_done";

    private ScoreMarkers() {
    }

    static boolean isEvalDone(ModelScored s) {
        return EVAL_DONE.equals(s.getMetric());
    }
}
