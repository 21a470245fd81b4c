package ops.teleportha.agent.tls;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Installs a pair so that Teleport can never read a certificate with the wrong key: the Kubernetes
 * "atomic writer" layout. Each pair lives in its own version directory; {@code ..data} is a symlink to
 * the current one and is replaced with a single rename(2); {@code tls.crt} and {@code tls.key} are fixed
 * symlinks through {@code ..data}. {@code ..previous} points at the pair before, for rollback.
 *
 * <pre>
 * target_dir/
 *   ..2026_11_21_20_50_00.123456789/tls.crt, tls.key   (a version)
 *   ..data     -> ..2026_11_21_20_50_00.123456789
 *   ..previous -> ..2026_11_20_08_00_00.000000001
 *   tls.crt    -> ..data/tls.crt
 *   tls.key    -> ..data/tls.key
 * </pre>
 *
 * Files and directories are fsynced before the swap, and the directory after it, so after a crash
 * {@code ..data} names either the old or the new complete version.
 */
public final class AtomicInstaller {
    static final String DATA = "..data";
    static final String PREVIOUS = "..previous";
    private static final String TMP_SUFFIX = "_tmp";
    private static final DateTimeFormatter VERSION =
            DateTimeFormatter.ofPattern("'..'yyyy_MM_dd_HH_mm_ss.nnnnnnnnn").withZone(ZoneOffset.UTC);

    private final Path dir;
    private final String owner;
    private final String group;
    private final Clock clock;

    public AtomicInstaller(Path targetDir, String owner, String group, Clock clock) {
        this.dir = targetDir;
        this.owner = owner;
        this.group = group;
        this.clock = clock;
    }

    /** Paths of the pair Teleport currently reads, if any. */
    public Optional<Path> currentCert() {
        Path p = dir.resolve(CandidateReader.CERT);
        return Files.isRegularFile(p) && Files.isRegularFile(dir.resolve(CandidateReader.KEY))
                ? Optional.of(p)
                : Optional.empty();
    }

    /**
     * Brings the directory into the layout after a crash or on first use: drops half-made temporaries
     * and versions nobody points at, and converts plain files left by an earlier installer.
     *
     * @return a description of what was repaired, empty when nothing was needed
     */
    public List<String> recover() throws IOException {
        List<String> repaired = new ArrayList<>();
        Files.createDirectories(dir);
        for (String tmp : new String[] {
            DATA + TMP_SUFFIX,
            PREVIOUS + TMP_SUFFIX,
            CandidateReader.CERT + TMP_SUFFIX,
            CandidateReader.KEY + TMP_SUFFIX
        }) {
            if (Files.deleteIfExists(dir.resolve(tmp))) {
                repaired.add("removed leftover " + tmp);
            }
        }
        Path data = dir.resolve(DATA);
        if (Files.isSymbolicLink(data) && !Files.isDirectory(data)) {
            // Cannot happen with fsync ordering on a sane filesystem; fall back rather than serve nothing.
            Path prev = dir.resolve(PREVIOUS);
            if (Files.isDirectory(prev)) {
                swapLink(DATA, Files.readSymbolicLink(prev));
                repaired.add("..data was dangling; pointed it back at the previous version");
            }
        }
        if (!Files.isSymbolicLink(data) && isPlainPair()) {
            adoptPlainPair();
            repaired.add("converted plain tls.crt/tls.key into the versioned layout");
        }
        if (Files.isSymbolicLink(data)) {
            repaired.addAll(ensureTopLinks());
            repaired.addAll(removeUnreferencedVersions());
            repaired.addAll(ensureOwners());
        }
        if (!repaired.isEmpty()) {
            syncDir(dir);
        }
        return repaired;
    }

    /** Writes a new version and swaps it in. Returns the version directory name. */
    public String install(byte[] cert, byte[] key) throws IOException {
        recover();
        String version = newVersionName();
        Path vdir = dir.resolve(version);
        Files.createDirectory(vdir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        writeFile(vdir.resolve(CandidateReader.CERT), cert, "rw-r--r--");
        writeFile(vdir.resolve(CandidateReader.KEY), key, "rw-------");
        syncDir(vdir);
        Path data = dir.resolve(DATA);
        if (Files.isSymbolicLink(data)) {
            swapLink(PREVIOUS, Files.readSymbolicLink(data));
        }
        swapLink(DATA, Path.of(version));
        syncDir(dir);
        ensureTopLinks();
        removeUnreferencedVersions();
        syncDir(dir);
        return version;
    }

    /** Points {@code ..data} back at {@code ..previous}. Returns false when there is nothing to go back to. */
    public boolean rollback() throws IOException {
        Path prev = dir.resolve(PREVIOUS);
        if (!Files.isSymbolicLink(prev) || !Files.isDirectory(prev)) {
            return false;
        }
        Path target = Files.readSymbolicLink(prev);
        swapLink(DATA, target);
        Files.delete(prev);
        syncDir(dir);
        removeUnreferencedVersions();
        syncDir(dir);
        return true;
    }

    private boolean isPlainPair() {
        Path c = dir.resolve(CandidateReader.CERT);
        Path k = dir.resolve(CandidateReader.KEY);
        return Files.isRegularFile(c, LinkOption.NOFOLLOW_LINKS) && Files.isRegularFile(k, LinkOption.NOFOLLOW_LINKS);
    }

    /** Copies the plain pair into a version first, so that replacing each file by a link never changes what it reads. */
    private void adoptPlainPair() throws IOException {
        byte[] cert = Files.readAllBytes(dir.resolve(CandidateReader.CERT));
        byte[] key = Files.readAllBytes(dir.resolve(CandidateReader.KEY));
        String version = newVersionName();
        Path vdir = dir.resolve(version);
        Files.createDirectory(vdir);
        writeFile(vdir.resolve(CandidateReader.CERT), cert, "rw-r--r--");
        writeFile(vdir.resolve(CandidateReader.KEY), key, "rw-------");
        syncDir(vdir);
        swapLink(DATA, Path.of(version));
        syncDir(dir);
        ensureTopLinks();
    }

    /**
     * Gives the installed versions' files to the configured owner and group: the user Teleport runs as
     * changes when its SSH Service is switched (root with it, its own user without), and Teleport must
     * read the key, whose mode admits only its owner.
     */
    private List<String> ensureOwners() throws IOException {
        List<String> fixed = new ArrayList<>();
        var lookup = FileSystems.getDefault().getUserPrincipalLookupService();
        UserPrincipal user = lookup.lookupPrincipalByName(owner);
        GroupPrincipal grp = lookup.lookupPrincipalByGroupName(group);
        for (String link : new String[] {DATA, PREVIOUS}) {
            Path l = dir.resolve(link);
            if (!Files.isSymbolicLink(l) || !Files.isDirectory(l)) {
                continue;
            }
            Path version = dir.resolve(Files.readSymbolicLink(l));
            for (String name : new String[] {CandidateReader.CERT, CandidateReader.KEY}) {
                Path file = version.resolve(name);
                if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                PosixFileAttributeView view =
                        Files.getFileAttributeView(file, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
                var attrs = view.readAttributes();
                if (attrs.owner().equals(user) && attrs.group().equals(grp)) {
                    continue;
                }
                view.setOwner(user);
                view.setGroup(grp);
                fixed.add("gave " + version.getFileName() + "/" + name + " to " + owner + ":" + group + " (was "
                        + attrs.owner().getName() + ":" + attrs.group().getName() + ")");
            }
        }
        return fixed;
    }

    private List<String> ensureTopLinks() throws IOException {
        List<String> fixed = new ArrayList<>();
        for (String name : new String[] {CandidateReader.CERT, CandidateReader.KEY}) {
            Path want = Path.of(DATA, name);
            Path link = dir.resolve(name);
            if (Files.isSymbolicLink(link) && Files.readSymbolicLink(link).equals(want)) {
                continue;
            }
            swapLink(name, want);
            fixed.add("pointed " + name + " at " + want);
        }
        return fixed;
    }

    private List<String> removeUnreferencedVersions() throws IOException {
        Set<Path> keep = new HashSet<>();
        for (String link : new String[] {DATA, PREVIOUS}) {
            Path l = dir.resolve(link);
            if (Files.isSymbolicLink(l)) {
                keep.add(Files.readSymbolicLink(l).normalize());
            }
        }
        List<String> removed = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, "..[0-9]*")) {
            for (Path e : entries) {
                if (keep.contains(e.getFileName()) || !Files.isDirectory(e, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                deleteTree(e);
                removed.add("removed unreferenced version " + e.getFileName());
            }
        }
        return removed;
    }

    private String newVersionName() {
        String name = VERSION.format(clock.instant());
        while (Files.exists(dir.resolve(name), LinkOption.NOFOLLOW_LINKS)) {
            name = name + "x";
        }
        return name;
    }

    /** Replaces (or creates) symlink {@code name} with one to {@code target}, atomically via rename(2). */
    private void swapLink(String name, Path target) throws IOException {
        Path tmp = dir.resolve(name + TMP_SUFFIX);
        Files.deleteIfExists(tmp);
        Files.createSymbolicLink(tmp, target);
        Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private void writeFile(Path file, byte[] data, String mode) throws IOException {
        try (FileChannel ch = FileChannel.open(
                file,
                Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(mode)))) {
            setOwner(file);
            // The umask may have narrowed the mode given at creation.
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(mode));
            ByteBuffer buf = ByteBuffer.wrap(data);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        } catch (FileAlreadyExistsException e) {
            throw new IOException(file + " exists already; another installer is writing " + dir, e);
        }
    }

    private void setOwner(Path file) throws IOException {
        var lookup = FileSystems.getDefault().getUserPrincipalLookupService();
        UserPrincipal user = lookup.lookupPrincipalByName(owner);
        GroupPrincipal grp = lookup.lookupPrincipalByGroupName(group);
        PosixFileAttributeView view =
                Files.getFileAttributeView(file, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        if (!view.getOwner().equals(user)) {
            view.setOwner(user);
        }
        view.setGroup(grp);
    }

    static void syncDir(Path d) throws IOException {
        try (FileChannel ch = FileChannel.open(d, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(root)) {
            for (Path p : s) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    deleteTree(p);
                } else {
                    Files.delete(p);
                }
            }
        }
        Files.delete(root);
    }
}
