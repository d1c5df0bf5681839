package io.shardwise.servicekit;

import com.google.protobuf.InvalidProtocolBufferException;
import io.shardwise.proto.v1.ShardEvent;
import io.shardwise.proto.v1.StageTask;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HexFormat;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Proof that a shard is done: {@code <blob-root>/receipts/<job>/<stage>/<shard>} holds the ShardEvent
 * (with its ShardDone) that was published. It is written atomically after the output blob is stored, so a
 * redelivered task whose receipt exists is answered by re-publishing it, never recomputed.
 */
public final class ShardReceipts {
    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}");
    private final Path root;

    public ShardReceipts(Path blobRoot) {
        this.root = blobRoot.resolve("receipts");
    }

    public Path pathOf(StageTask task) {
        return root.resolve(segment(task.getJobId())).resolve(Integer.toString(task.getStage().getIndex()))
                .resolve(segment(task.getShard().getShardId()));
    }

    public Optional<ShardEvent> find(StageTask task) throws IOException {
        Path p = pathOf(task);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(p);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        try {
            ShardEvent e = ShardEvent.parseFrom(bytes);
            if (!e.hasDone()) throw new IOException("receipt " + p + " holds no ShardDone");
            return Optional.of(e);
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("receipt " + p + " is not a ShardEvent: " + e.getMessage(), e);
        }
    }

    public void write(StageTask task, ShardEvent done) throws IOException {
        Path p = pathOf(task);
        Files.createDirectories(p.getParent());
        Path tmp = Files.createTempFile(p.getParent(), ".receipt", ".part");
        Files.write(tmp, done.toByteArray());
        try {
            Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Ids become one path segment: safe ones as they are, any other as hex (so no '..' or '/'). */
    static String segment(String id) {
        if (SAFE.matcher(id).matches() && !id.startsWith("x-") && !id.equals(".") && !id.equals("..")) return id;
        return "x-" + HexFormat.of().formatHex(id.getBytes(StandardCharsets.UTF_8));
    }
}
