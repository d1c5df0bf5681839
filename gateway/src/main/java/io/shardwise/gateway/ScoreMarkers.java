package io.shardwise.gateway;

import io.shardwise.proto.v1.ModelScored;

/**
 * The evaluator ends each EvalTask with one extra {@link ModelScored} whose metric is {@value #EVAL_DONE}
 * (dataset ""): the coordinator counts a stage as evaluated when it arrives, whatever metrics came before.
 */
final class ScoreMarkers {
    static final String EVAL_DONE = "eval_done";
    /** Sent before the marker when the evaluator dead-lettered the task; its error fails the job. */
    static final String EVAL_FAILED = "eval_failed";

    private ScoreMarkers() {
    }

    static boolean isEvalFailed(ModelScored s) {
        return EVAL_FAILED.equals(s.getMetric());
    }

    static boolean isEvalDone(ModelScored s) {
        return EVAL_DONE.equals(s.getMetric());
    }
}
