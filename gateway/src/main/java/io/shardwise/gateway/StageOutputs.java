package io.shardwise.gateway;

import io.shardwise.proto.v1.OutputSpec;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;

import java.io.IOException;
import java.util.List;

/** The coordinator's two side effects that are not events: deriving a stage's manifest and writing the job's model file. */
public interface StageOutputs {

    /**
     * The manifest of {@code input} with the shards' replaced tensors and without the ones they {@code removed} (whole
     * blocks, the blocks above renumbered), recording {@code stage}; returns its digest.
     */
    String derive(String inputManifest, StageSpec stage, List<TensorEntry> replaced, List<String> removed) throws IOException;

    /** Writes the final model as {@code output} asks; returns the file's path. */
    String writeOutput(String jobId, String finalManifest, OutputSpec output) throws IOException;
}
