package ops.teleportha.agent.tls;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;

/**
 * Reads a candidate {@code tls.crt} + {@code tls.key} from the source directory, refusing anything that
 * is not plainly a pair of small regular files inside that directory.
 */
public final class CandidateReader {
    public static final String CERT = "tls.crt";
    public static final String KEY = "tls.key";

    private final Path sourceDir;
    private final long maxBytes;

    public CandidateReader(Path sourceDir, long maxBytes) {
        this.sourceDir = sourceDir;
        this.maxBytes = maxBytes;
    }

    /** The raw bytes of a candidate; {@code null} fields never occur. */
    public record RawPair(byte[] cert, byte[] key) {}

    /** Whether anything is waiting in the source directory. */
    public boolean present() {
        return Files.exists(sourceDir.resolve(CERT), LinkOption.NOFOLLOW_LINKS)
                || Files.exists(sourceDir.resolve(KEY), LinkOption.NOFOLLOW_LINKS);
    }

    /** The newest modification time of the candidate files (links and their targets), to let writers finish. */
    public Instant lastModified() {
        Instant newest = Instant.EPOCH;
        for (String name : new String[] {CERT, KEY}) {
            Path p = sourceDir.resolve(name);
            for (LinkOption[] opts : new LinkOption[][] {{LinkOption.NOFOLLOW_LINKS}, {}}) {
                try {
                    FileTime t = Files.getLastModifiedTime(p, opts);
                    if (t.toInstant().isAfter(newest)) {
                        newest = t.toInstant();
                    }
                } catch (IOException ignored) {
                    // missing or dangling: the read reports it
                }
            }
        }
        return newest;
    }

    public RawPair read() throws RejectedCandidate, IOException {
        Path cert = sourceDir.resolve(CERT);
        Path key = sourceDir.resolve(KEY);
        boolean hasCert = Files.exists(cert, LinkOption.NOFOLLOW_LINKS);
        boolean hasKey = Files.exists(key, LinkOption.NOFOLLOW_LINKS);
        if (!hasCert) {
            throw new RejectedCandidate(
                    RejectReason.MISSING_CERT, sourceDir + ": tls.key present but tls.crt missing; drop both files");
        }
        if (!hasKey) {
            throw new RejectedCandidate(
                    RejectReason.MISSING_KEY, sourceDir + ": tls.crt present but tls.key missing; drop both files");
        }
        return new RawPair(readOne(cert), readOne(key));
    }

    private byte[] readOne(Path file) throws RejectedCandidate, IOException {
        Path real;
        try {
            real = file.toRealPath();
        } catch (NoSuchFileException e) {
            throw new RejectedCandidate(RejectReason.SYMLINK_OUTSIDE_SOURCE, file + ": is a dangling symlink");
        }
        Path realSource = sourceDir.toRealPath();
        if (!real.startsWith(realSource)) {
            throw new RejectedCandidate(
                    RejectReason.SYMLINK_OUTSIDE_SOURCE,
                    file + ": resolves to " + real + ", outside " + sourceDir
                            + "; copy the file into the source dir instead");
        }
        if (!Files.isRegularFile(real)) {
            throw new RejectedCandidate(RejectReason.NOT_A_REGULAR_FILE, file + ": is not a regular file");
        }
        long size = Files.size(real);
        if (size == 0) {
            throw new RejectedCandidate(RejectReason.EMPTY_FILE, file + ": is empty");
        }
        if (size > maxBytes) {
            throw new RejectedCandidate(
                    RejectReason.TOO_LARGE,
                    file + ": is " + size + " bytes, more than tls.max_file_bytes (" + maxBytes + ")");
        }
        try (InputStream in = Files.newInputStream(real)) {
            byte[] data = in.readNBytes((int) maxBytes + 1);
            if (data.length > maxBytes) { // grew while reading
                throw new RejectedCandidate(
                        RejectReason.TOO_LARGE, file + ": grew past tls.max_file_bytes while being read");
            }
            if (data.length == 0) {
                throw new RejectedCandidate(RejectReason.EMPTY_FILE, file + ": is empty");
            }
            return data;
        }
    }
}
