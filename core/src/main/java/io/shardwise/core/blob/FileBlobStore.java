package io.shardwise.core.blob;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Blobs as files {@code <root>/ab/abcdef...} named by their sha256. Writes go to a temp file
 * first and are renamed into place, so a killed writer never leaves a partial blob, and several
 * processes (or pods on a RWX volume) can share one root.
 */
public final class FileBlobStore implements BlobStore {
    /** Bytes copied or hashed per step: big enough to stream fast, small enough to never matter for memory. */
    static final int PIECE = 1 << 20;
    /** Linux maps up to this much around a faulting page of a file mapping (fault_around_bytes). */
    static final int FAULT_AROUND = 1 << 16;

    private final Path root;
    private final Arena arena = Arena.ofShared();
    private final Map<String, MemorySegment> storeMappings = new ConcurrentHashMap<>();

    public FileBlobStore(Path root) throws IOException {
        this.root = root.toAbsolutePath();
        Files.createDirectories(this.root.resolve("tmp"));
    }

    public Path root() {
        return root;
    }

    Path pathOf(String digest) {
        Sha256.requireValid(digest);
        return root.resolve(digest.substring(0, 2)).resolve(digest);
    }

    @Override
    public String put(byte[] bytes) throws IOException {
        String digest = Sha256.of(bytes);
        Path target = pathOf(digest);
        if (Files.exists(target)) return digest;
        Path tmp = Files.createTempFile(root.resolve("tmp"), "put", ".part");
        Files.write(tmp, bytes);
        publish(tmp, target);
        return digest;
    }

    @Override
    public String putFile(Path file) throws IOException {
        Path tmp = Files.createTempFile(root.resolve("tmp"), "put", ".part");
        MessageDigest md = Sha256.newDigest();
        try (InputStream in = Files.newInputStream(file);
             OutputStream out = new DigestOutputStream(Files.newOutputStream(tmp), md)) {
            in.transferTo(out);
        }
        String digest = HexFormat.of().formatHex(md.digest());
        Path target = pathOf(digest);
        if (Files.exists(target)) {
            Files.delete(tmp);
        } else {
            publish(tmp, target);
        }
        return digest;
    }

    @Override
    public BlobWriter writer() throws IOException {
        return new FileWriter(Files.createTempFile(root.resolve("tmp"), "write", ".part"));
    }

    private static void publish(Path tmp, Path target) throws IOException {
        Files.createDirectories(target.getParent());
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException e) {
            Files.deleteIfExists(tmp); // a concurrent writer stored the same bytes
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Override
    public boolean exists(String digest) {
        return Files.exists(pathOf(digest));
    }

    @Override
    public MemorySegment map(String digest, Arena arena) throws IOException {
        Path p = existing(digest);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            if (ch.size() == 0) return MemorySegment.NULL.reinterpret(0);
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
    }

    @Override
    public MemorySegment map(String digest) throws IOException {
        MemorySegment m = storeMappings.get(digest);
        if (m != null) return m;
        // one mapping per blob: a mapping per call would pile up until the process hits vm.max_map_count
        m = map(digest, arena);
        MemorySegment raced = storeMappings.putIfAbsent(digest, m);
        return raced != null ? raced : m;
    }

    @Override
    public byte[] get(String digest) throws IOException {
        return Files.readAllBytes(existing(digest));
    }

    @Override
    public InputStream open(String digest) throws IOException {
        return Files.newInputStream(existing(digest));
    }

    @Override
    public long size(String digest) throws IOException {
        return Files.size(existing(digest));
    }

    @Override
    public void verify(String digest) throws IOException {
        Path p = existing(digest);
        String actual = Sha256.of(p);
        if (!actual.equals(digest)) {
            throw new CorruptBlobException("blob " + digest + " in " + root + " is corrupt: its " + Files.size(p) + " bytes hash to " + actual);
        }
    }

    @Override
    public Optional<Path> localPath(String digest) {
        Path p = pathOf(digest);
        return Files.exists(p) ? Optional.of(p) : Optional.empty();
    }

    private Path existing(String digest) throws IOException {
        Path p = pathOf(digest);
        if (!Files.exists(p)) throw new NoSuchFileException(p.toString(), null, "blob " + digest + " is not in the store " + root);
        return p;
    }

    /** Streams into a temp file under {@code tmp/}, hashing each piece as it goes; renamed to its digest on commit. */
    private final class FileWriter implements BlobWriter {
        private final Path tmp;
        private final FileChannel ch;
        private final MessageDigest md = Sha256.newDigest();
        private long position;
        private boolean closed;

        FileWriter(Path tmp) throws IOException {
            this.tmp = tmp;
            this.ch = FileChannel.open(tmp, StandardOpenOption.WRITE);
        }

        @Override
        public void write(MemorySegment bytes) throws IOException {
            if (closed) throw new IllegalStateException("blob writer " + tmp + " is closed");
            for (long at = 0; at < bytes.byteSize(); at += PIECE) {
                // bounded pieces: a heap buffer handed to a FileChannel is copied into a per-thread direct buffer of its size
                MemorySegment piece = bytes.asSlice(at, Math.min(PIECE, bytes.byteSize() - at));
                ByteBuffer b = piece.asByteBuffer();
                md.update(b.duplicate());
                while (b.hasRemaining()) ch.write(b);
                // copied: the page cache keeps it, this process need not; from 64 KiB back, as the kernel's
                // fault-around maps the aligned 64 KiB window of a fault, pages of the piece before included
                if (bytes.isMapped()) bytes.asSlice(Math.max(0, at - FAULT_AROUND), Math.min(at, FAULT_AROUND) + piece.byteSize()).unload();
            }
            position += bytes.byteSize();
        }

        @Override
        public void zeros(long n) throws IOException {
            if (n <= 0) return;
            write(MemorySegment.ofArray(new byte[(int) Math.min(n, PIECE)]).asSlice(0, Math.min(n, PIECE)));
            if (n > PIECE) zeros(n - PIECE);
        }

        @Override
        public long position() {
            return position;
        }

        @Override
        public String commit() throws IOException {
            if (closed) throw new IllegalStateException("blob writer " + tmp + " is closed");
            closed = true;
            try {
                ch.close();
                String digest = HexFormat.of().formatHex(md.digest());
                Path target = pathOf(digest);
                if (Files.exists(target)) Files.delete(tmp);
                else publish(tmp, target);
                return digest;
            } finally {
                Files.deleteIfExists(tmp);
            }
        }

        @Override
        public void close() throws IOException {
            if (closed) return;
            closed = true;
            try {
                ch.close();
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }
}
