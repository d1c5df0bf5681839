package io.shardwise.core.blob;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** sha256 digests as lower-case hex: the names of blobs and manifests. */
public final class Sha256 {
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

    private Sha256() {
    }

    public static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String of(byte[] bytes) {
        return HexFormat.of().formatHex(newDigest().digest(bytes));
    }

    public static String of(Path file) throws IOException {
        MessageDigest md = newDigest();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Throws unless {@code digest} is 64 lower-case hex characters (blob names become file names). */
    public static String requireValid(String digest) {
        if (digest == null || !HEX64.matcher(digest).matches()) {
            throw new IllegalArgumentException("not a sha256 digest: '" + digest + "'");
        }
        return digest;
    }
}
