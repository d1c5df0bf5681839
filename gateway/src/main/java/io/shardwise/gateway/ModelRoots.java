package io.shardwise.gateway;

import io.grpc.Status;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The directories models (and evaluation files) may be read from. A URI is {@code file:/abs/path},
 * an absolute path, or a path relative to a root. The path is checked twice: as written (after
 * {@code ..} is normalized) and after symlinks are resolved, so neither can lead outside the roots.
 */
public final class ModelRoots {
    private final List<Path> roots = new ArrayList<>();

    public ModelRoots(List<Path> roots) {
        for (Path r : roots) {
            Path abs = r.toAbsolutePath().normalize();
            this.roots.add(abs);
            try {
                Path real = abs.toRealPath();
                if (!real.equals(abs)) this.roots.add(real);
            } catch (IOException e) {
                // a root that does not exist yet still bounds paths as written
            }
        }
    }

    public List<Path> roots() {
        return List.copyOf(roots);
    }

    /** The real path of an existing regular file under a root; {@code field} names the request field in errors. */
    public Path resolve(String uri, String field) throws JobRejected {
        if (uri == null || uri.isBlank()) throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": missing");
        String p = uri.startsWith("file://") ? uri.substring("file://".length()) : uri.startsWith("file:") ? uri.substring("file:".length()) : uri;
        if (p.contains("://")) throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": '" + uri + "' is not a file: URI or path");
        if (roots.isEmpty()) throw new JobRejected(Status.Code.FAILED_PRECONDITION, field + ": no model roots are configured (shardwise.model-roots)");
        Path given;
        try {
            given = Path.of(p);
        } catch (java.nio.file.InvalidPathException e) {
            throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": '" + uri + "' is not a valid path: " + e.getMessage());
        }
        Path candidate = null;
        if (given.isAbsolute()) candidate = given.normalize();
        else {
            for (Path r : roots) {
                Path c = r.resolve(given).normalize();
                if (Files.exists(c)) {
                    candidate = c;
                    break;
                }
            }
            if (candidate == null) candidate = roots.getFirst().resolve(given).normalize();
        }
        if (!under(candidate)) throw outside(field, uri, candidate);
        if (!Files.exists(candidate)) throw new JobRejected(Status.Code.NOT_FOUND, field + ": " + candidate + " does not exist");
        Path real;
        try {
            real = candidate.toRealPath();
        } catch (IOException e) {
            throw new JobRejected(Status.Code.NOT_FOUND, field + ": " + candidate + " cannot be resolved: " + e.getMessage());
        }
        if (!under(real)) throw outside(field, uri + " (a symlink to " + real + ")", real);
        if (!Files.isRegularFile(real)) throw new JobRejected(Status.Code.INVALID_ARGUMENT, field + ": " + real + " is not a regular file");
        return real;
    }

    private boolean under(Path p) {
        for (Path r : roots) if (p.startsWith(r)) return true;
        return false;
    }

    private JobRejected outside(String field, String uri, Path p) {
        return new JobRejected(Status.Code.PERMISSION_DENIED, field + ": " + uri + " resolves to " + p
                + ", outside the allowed model roots " + roots + " (shardwise.model-roots)");
    }
}
