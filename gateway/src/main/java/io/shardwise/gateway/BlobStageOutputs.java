package io.shardwise.gateway;

import io.shardwise.core.format.GgufLlama;
import io.shardwise.core.format.ModelFiles;
import io.shardwise.core.manifest.ModelStore;
import io.shardwise.core.tensor.GgmlType;
import io.shardwise.proto.v1.OutputSpec;
import io.shardwise.proto.v1.StageSpec;
import io.shardwise.proto.v1.TensorEntry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Stage manifests derived in the blob store; the job's model file written as GGUF into the output directory. */
public final class BlobStageOutputs implements StageOutputs {
    private final ModelStore store;
    private final Path outputDir;

    public BlobStageOutputs(ModelStore store, Path outputDir) {
        this.store = store;
        this.outputDir = outputDir;
    }

    @Override
    public String derive(String inputManifest, StageSpec stage, List<TensorEntry> replaced) throws IOException {
        return store.derive(inputManifest, stage, replaced);
    }

    @Override
    public String writeOutput(String jobId, String finalManifest, OutputSpec output) throws IOException {
        Path file = JobIntake.outputFile(outputDir, jobId, output.getPath());
        Files.createDirectories(file.getParent());
        GgmlType type = output.getType().isEmpty() ? null : GgmlType.valueOf(output.getType());
        Path tmp = file.resolveSibling(file.getFileName() + ".part");
        ModelFiles.write(store.load(finalManifest), tmp, new GgufLlama.WriteOptions(jobId, type));
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return file.toString();
    }
}
