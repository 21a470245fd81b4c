package ops.teleportha.agent.tls;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.Map;

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

    /**
     * What a candidate file was when looked at: the same file (device and inode), unchanged (size, mtime, and
     * ctime, which also moves on rename, chmod, chown and link count changes). For a symlink, also its target.
     *
     * @param id {@code [dev, ino]}; {@code null} when the file does not exist
     */
    public record FileState(List<Object> id, long size, FileTime modified, FileTime changed, FileState target) {
        static final FileState ABSENT = new FileState(null, -1, null, null, null);

        public boolean exists() {
            return id != null;
        }

        /** The latest mtime or ctime of the file and its target: when it last changed or arrived. */
        Instant lastChanged() {
            Instant t = Instant.EPOCH;
            for (FileState f = this; f != null && f.exists(); f = f.target) {
                for (FileTime ft : new FileTime[] {f.modified, f.changed}) {
                    if (ft != null && ft.toInstant().isAfter(t)) {
                        t = ft.toInstant();
                    }
                }
            }
            return t;
        }
    }

    /** Both files of a drop as found; equal states mean nothing in the drop changed in between. */
    public record DropState(FileState cert, FileState key) {
        public boolean present() {
            return cert.exists() || key.exists();
        }

        public FileState of(String name) {
            return name.equals(CERT) ? cert : key;
        }

        /**
         * When the drop last changed. ctime counts, not only mtime: a file renamed into the directory keeps the
         * mtime of when it was written, but has only just arrived.
         */
        public Instant lastChanged() {
            Instant c = cert.lastChanged();
            Instant k = key.lastChanged();
            return c.isAfter(k) ? c : k;
        }
    }

    public DropState state() {
        return new DropState(state(CERT), state(KEY));
    }

    public FileState state(String name) {
        Path p = sourceDir.resolve(name);
        FileState link = stat(p, LinkOption.NOFOLLOW_LINKS);
        if (link.exists() && Files.isSymbolicLink(p)) {
            return new FileState(link.id(), link.size(), link.modified(), link.changed(), stat(p));
        }
        return link;
    }

    private static FileState stat(Path p, LinkOption... options) {
        try {
            Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino,size,lastModifiedTime,ctime", options);
            return new FileState(
                    List.of(a.get("dev"), a.get("ino")),
                    (Long) a.get("size"),
                    (FileTime) a.get("lastModifiedTime"),
                    (FileTime) a.get("ctime"),
                    null);
        } catch (IOException | UnsupportedOperationException e) {
            return FileState.ABSENT; // missing or dangling: the read reports it
        }
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

    private static InputStream open(Path file, Path real) throws RejectedCandidate, IOException {
        try {
            return Files.newInputStream(real);
        } catch (AccessDeniedException e) {
            String whose;
            try {
                PosixFileAttributes a = Files.readAttributes(real, PosixFileAttributes.class);
                whose = "owner " + a.owner().getName() + ", group " + a.group().getName() + ", mode "
                        + PosixFilePermissions.toString(a.permissions());
            } catch (IOException unknown) {
                whose = "owner unknown";
            }
            throw new RejectedCandidate(
                    RejectReason.UNREADABLE,
                    file + ": the agent's user (" + System.getProperty("user.name") + ") may not read it (" + whose
                            + "); make it readable by that user (chown it, or chgrp and chmod 0640) or drop it as"
                            + " that user");
        }
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
        int links = (Integer) Files.getAttribute(real, "unix:nlink");
        if (links > 1) {
            // Like a symlink out of the directory, a hard link can hand the agent a file kept elsewhere; and
            // consuming the drop would remove one name and leave the key behind under the other.
            throw new RejectedCandidate(
                    RejectReason.HARD_LINK,
                    file + ": has " + links + " links (a hard link to a file that also lives elsewhere), which the"
                            + " agent does not read; copy the file into the source dir instead of linking it"
                            + " (cp, not ln)");
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
        try (InputStream in = open(file, real)) {
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
