package io.shardwise.gateway;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.proto.v1.OutputSpec;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Stage manifests derived in the blob store; the job's model file written as GGUF into the output directory
 * (atomically: GgufWriter writes a temp file and renames it).
 */
public final class BlobStageOutputs implements StageOutputs {
    private final ModelStore store;
    private final Path outputDir;

    public BlobStageOutputs(ModelStore store, Path outputDir) {
        this.store = store;
        this.outputDir = outputDir;
    }

    @Override
    public String derive(String inputManifest, StageSpec stage, List<TensorEntry> replaced, List<String> removed) throws IOException {
        return store.derive(inputManifest, stage, replaced, removed);
    }

    @Override
    public String writeOutput(String jobId, String finalManifest, OutputSpec output) throws IOException {
        Path file = JobIntake.outputFile(outputDir, jobId, output.getPath());
        Files.createDirectories(file.getParent());
        GgmlType type = output.getType().isEmpty() ? null : GgmlType.valueOf(output.getType());
        // mapped for this write only, and streamed tensor by tensor (pages released as written): the gateway
        // never holds more of the model than a piece, and nothing stays mapped after
        try (Arena arena = Arena.ofShared()) {
            ModelFiles.write(store.load(finalManifest, arena), file, new GgufLlama.WriteOptions(jobId, type));
        }
        return file.toString();
    }
}
