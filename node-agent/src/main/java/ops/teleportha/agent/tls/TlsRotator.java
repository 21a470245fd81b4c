package ops.teleportha.agent.tls;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import ops.teleportha.agent.Log;
import ops.teleportha.agent.Threads;
import ops.teleportha.agent.config.TlsConfig;
import ops.teleportha.agent.metrics.AgentMetrics;
import ops.teleportha.config.HostPort;

/**
 * Watches the source directory and moves good pairs into the target directory: validate, install
 * atomically, reload, confirm by handshake, roll back when unconfirmed. Rejected candidates are moved to
 * the rejected directory with a REASON file, never deleted. All work runs on one thread.
 */
public final class TlsRotator implements AutoCloseable {
    /** What one check did; tests and logs use it. */
    public enum Outcome {
        NOTHING,
        SETTLING,
        UNCHANGED,
        INSTALLED,
        REJECTED,
        /** The drop refused last time, left in place, is still there unchanged: not judged (nor reported) again. */
        STILL_REFUSED,
        ROLLED_BACK,
        UNCONFIRMED,
        FAILED
    }

    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss.SSS'Z'").withZone(ZoneOffset.UTC);

    private final TlsConfig config;
    private final AgentMetrics metrics;
    private final Clock clock;
    private final CandidateReader reader;
    private final PairValidator validator;
    private final AtomicInstaller installer;
    private final Reloader reloader;
    private final ScheduledExecutorService worker;
    private WatchService watcher;
    private Thread watchThread;
    private volatile RejectedCandidate lastRejection;
    /** A refused drop left in place, as it was when refused: not judged again while it stays so. */
    private CandidateReader.DropState refused;

    private volatile Instant lastCheck;
    /** Replaced, never changed in place, by prepare() and check() (both synchronized); read by HTTP requests. */
    private volatile TlsStatus status = TlsStatus.NONE;

    public TlsRotator(TlsConfig config, AgentMetrics metrics, Clock clock) {
        this.config = config;
        this.metrics = metrics;
        this.clock = clock;
        this.reader = new CandidateReader(config.sourceDir(), config.maxFileBytes());
        this.validator = new PairValidator(config.requiredNames(), config.minValidity(), config.trustBundle(), clock);
        this.installer = new AtomicInstaller(config.targetDir(), config.owner(), config.group(), clock);
        this.reloader = new Reloader(config.reload());
        this.worker = Executors.newSingleThreadScheduledExecutor(Threads.daemon("tls-rotator"));
    }

    /** Creates the directories and repairs the target directory after a crash. */
    public synchronized void prepare() throws IOException {
        Files.createDirectories(
                config.sourceDir(), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-x---")));
        Files.createDirectories(
                config.rejectedDir(),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        for (String fix : installer.recover()) {
            Log.info("tls", "recovery: " + fix);
        }
        publishInstalled();
    }

    /** {@link #prepare}, then watches and rescans. */
    public void start() throws IOException {
        prepare();
        watcher = config.sourceDir().getFileSystem().newWatchService();
        config.sourceDir()
                .register(
                        watcher,
                        StandardWatchEventKinds.ENTRY_CREATE,
                        StandardWatchEventKinds.ENTRY_MODIFY,
                        StandardWatchEventKinds.ENTRY_DELETE);
        watchThread = Threads.daemon("tls-watch").newThread(this::watchLoop);
        watchThread.start();
        long rescan = config.rescanInterval().toMillis();
        worker.scheduleWithFixedDelay(this::checkLogged, 0, rescan, TimeUnit.MILLISECONDS);
    }

    private void watchLoop() {
        try {
            while (true) {
                WatchKey key = watcher.take();
                key.pollEvents();
                // Let the writer finish: the check waits until the files have been quiet for settle_time.
                worker.schedule(this::checkLogged, config.settleTime().toMillis(), TimeUnit.MILLISECONDS);
                if (!key.reset()) {
                    Log.warn("tls", config.sourceDir() + " is no longer watchable; relying on tls.rescan_interval");
                    return;
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // shutting down
        }
    }

    private void checkLogged() {
        try {
            check();
        } catch (RuntimeException e) {
            Log.error("tls", "check failed: " + e);
        }
    }

    /** One pass over the source directory. Synchronized: the watcher, the rescan and tests may all call it. */
    public synchronized Outcome check() {
        Instant now = clock.instant();
        lastCheck = now;
        status = status.withCheckedAt(now);
        metrics.tlsChecked(now);
        CandidateReader.DropState seen = reader.state();
        if (!seen.present()) {
            refused = null;
            return Outcome.NOTHING;
        }
        Instant quietSince = seen.lastChanged().plus(config.settleTime());
        if (now.isBefore(quietSince)) {
            recheckIn(Duration.between(now, quietSince));
            return Outcome.SETTLING;
        }
        if (seen.equals(refused)) {
            return Outcome.STILL_REFUSED;
        }
        CandidateReader.RawPair raw;
        PemPair pair;
        X509Certificate installed = installedLeaf();
        try {
            raw = reader.read();
            if (!reader.state().equals(seen)) {
                return changedWhileRead();
            }
            pair = validator.validate(raw, installed);
            if (installed != null && pair.leafFingerprint().equals(PemPair.fingerprint(installed))) {
                consume(raw);
                return Outcome.UNCHANGED;
            }
        } catch (RejectedCandidate r) {
            if (!reader.state().equals(seen)) {
                return changedWhileRead(); // the verdict is about files that are no longer there
            }
            rotated("rejected", r.reason(), reject(r, seen));
            return Outcome.REJECTED;
        } catch (IOException e) {
            Log.error("tls", "cannot read candidate in " + config.sourceDir() + ": " + e.getMessage());
            metrics.rotation("failed");
            rotated("failed", null, "cannot read candidate in " + config.sourceDir() + ": " + e.getMessage());
            return Outcome.FAILED;
        }
        return installAndConfirm(raw, pair, installed != null, seen);
    }

    /** A writer was at work while the files were read: let it finish, then judge what it wrote. */
    private Outcome changedWhileRead() {
        recheckIn(config.settleTime());
        return Outcome.SETTLING;
    }

    private void recheckIn(Duration d) {
        worker.schedule(this::checkLogged, d.toMillis() + 50, TimeUnit.MILLISECONDS);
    }

    /** @param judged the drop as found before it was read: only those files are moved aside if it is rolled back */
    private Outcome installAndConfirm(
            CandidateReader.RawPair raw, PemPair pair, boolean hadPrevious, CandidateReader.DropState judged) {
        String fp = pair.leafFingerprint();
        String version;
        try {
            // What was parsed and validated, re-encoded: never the dropped bytes, which may carry other text.
            version =
                    installer.install(PemCodec.encodeCertificates(pair.chain()), PemCodec.encodePrivateKey(pair.key()));
        } catch (IOException e) {
            Log.error("tls", "install into " + config.targetDir() + " failed, installed pair unchanged: " + e);
            metrics.rotation("failed");
            rotated("failed", null, "install into " + config.targetDir() + " failed, installed pair unchanged: " + e);
            return Outcome.FAILED;
        }
        Log.info(
                "tls",
                "installed " + version + " (leaf sha256 " + fp + ", not after "
                        + pair.leaf().getNotAfter().toInstant() + ")");
        publishInstalled();
        reloader.reload();
        if (!hadPrevious
                && config.verify().addr() != null
                && !listening(config.verify().addr())) {
            // A host's first pair lands before Teleport starts (Teleport refuses to start a proxy
            // without one): there is nothing serving yet to confirm against, nor a pair to return to.
            Log.info(
                    "tls",
                    "installed " + version + " before anything listens on " + describeVerify()
                            + ": the first pair of this host, which Teleport loads when it starts");
            consume(raw);
            metrics.rotation("installed");
            rotated(
                    "installed",
                    null,
                    "installed " + version + " before Teleport started (" + describeVerify()
                            + " refused connections): the first pair, nothing to confirm yet");
            return Outcome.INSTALLED;
        }
        String seen = confirm(fp);
        if (seen == null) {
            Log.info(
                    "tls",
                    config.verify().addr() == null
                            ? "installed without confirmation (tls.verify.addr is empty)"
                            : "confirmed: " + describeVerify() + " serves sha256 " + fp);
            consume(raw);
            metrics.rotation("installed");
            if (config.verify().addr() != null) {
                status = status.withServed(new TlsStatus.Served(fp, clock.instant()));
            }
            rotated(
                    "installed",
                    null,
                    "installed " + version
                            + (config.verify().addr() == null
                                    ? " (not confirmed: tls.verify.addr is empty)"
                                    : ", confirmed served by " + describeVerify()));
            return Outcome.INSTALLED;
        }
        if (!hadPrevious) {
            Log.warn(
                    "tls",
                    "not confirmed (" + seen + ") and there is no previous pair to return to; keeping " + version);
            consume(raw);
            metrics.rotation("unconfirmed");
            rotated(
                    "unconfirmed",
                    null,
                    "installed " + version + " but " + describeVerify() + " did not serve it within tls.verify.timeout"
                            + " (last seen: " + seen + "); kept, there is no previous pair to return to");
            return Outcome.UNCONFIRMED;
        }
        try {
            installer.rollback();
            reloader.reload();
            publishInstalled();
        } catch (IOException e) {
            Log.error("tls", "rollback failed: " + e);
            metrics.rotation("failed");
            rotated("failed", null, "rollback after an unconfirmed install failed: " + e);
            return Outcome.FAILED;
        }
        RejectedCandidate notConfirmed = new RejectedCandidate(
                RejectReason.NOT_CONFIRMED,
                describeVerify()
                        + " did not serve the new certificate (sha256 " + fp + ") within tls.verify.timeout ("
                        + config.verify().timeout().toSeconds() + "s); last seen: " + seen
                        + "; rolled back to the previous pair");
        reject(notConfirmed, judged);
        metrics.rotation("rolled_back");
        rotated("rolled_back", notConfirmed.reason(), notConfirmed.getMessage());
        return Outcome.ROLLED_BACK;
    }

    /** Whether anything accepts TCP connections on addr (a refused or timed-out connect is "no"). */
    private static boolean listening(HostPort addr) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(addr.host(), addr.port()), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** @return null when confirmed (or verification is off), else what was seen instead */
    private String confirm(String fingerprint) {
        TlsConfig.Verify v = config.verify();
        if (v.addr() == null) {
            return null;
        }
        Instant deadline = clock.instant().plus(v.timeout());
        String seen = "nothing";
        while (true) {
            try {
                int remaining = (int) Math.max(
                        100,
                        Math.min(
                                5000,
                                Duration.between(clock.instant(), deadline).toMillis()));
                String served = ServedCertificate.fingerprint(v.addr(), v.serverName(), remaining);
                if (served.equals(fingerprint)) {
                    return null;
                }
                seen = "sha256 " + served;
            } catch (IOException e) {
                seen = "error " + e.getMessage();
            }
            if (!clock.instant().plus(v.pollInterval()).isBefore(deadline)) {
                return seen;
            }
            try {
                Thread.sleep(v.pollInterval().toMillis()); // pacing the poll of an external server, not synchronisation
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted";
            }
        }
    }

    private String describeVerify() {
        return "tls.verify.addr " + config.verify().addr();
    }

    /**
     * Moves the judged files aside with a REASON, or, for a drop the agent will not read, leaves it in place and
     * remembers it so that it is reported once, not on every check. Only files that are still the ones judged
     * are moved: a pair that landed meanwhile (during a rollback's wait, above all) is the next check's to judge,
     * not this one's to move aside under this reason.
     *
     * @return what the status says about it
     */
    private String reject(RejectedCandidate r, CandidateReader.DropState judged) {
        lastRejection = r;
        metrics.rejection(r.reason().label());
        if (r.reason() == RejectReason.UNREADABLE || r.reason() == RejectReason.HARD_LINK) {
            refused = judged;
            String detail = r.getMessage() + "; left in place and not looked at again until it changes";
            Log.warn("tls", "refused candidate (" + r.reason().label() + "): " + detail);
            return detail;
        }
        Path dest = config.rejectedDir()
                .resolve(STAMP.format(clock.instant()) + "-" + r.reason().label());
        List<String> notes = new ArrayList<>();
        try {
            Files.createDirectories(dest);
            for (String name : new String[] {CandidateReader.CERT, CandidateReader.KEY}) {
                CandidateReader.FileState was = judged.of(name);
                if (!was.exists()) {
                    continue;
                }
                if (!reader.state(name).equals(was)) {
                    notes.add(name + " was replaced before it could be moved aside; left in place for the next check");
                    continue;
                }
                Files.move(config.sourceDir().resolve(name), dest.resolve(name), StandardCopyOption.ATOMIC_MOVE);
            }
            StringBuilder text = new StringBuilder()
                    .append("reason: ")
                    .append(r.reason().label())
                    .append("\ndetail: ")
                    .append(r.getMessage())
                    .append("\nrejected_at: ")
                    .append(clock.instant())
                    .append('\n');
            notes.forEach(n -> text.append("note: ").append(n).append('\n'));
            Files.writeString(dest.resolve("REASON"), text, StandardCharsets.UTF_8);
            AtomicInstaller.syncDir(dest);
            Log.warn(
                    "tls",
                    "rejected candidate (" + r.reason().label() + "): " + r.getMessage() + "; moved to " + dest
                            + (notes.isEmpty() ? "" : "; " + String.join("; ", notes)));
        } catch (IOException e) {
            refused = judged; // what could not be moved is not rejected again on every check
            Log.error(
                    "tls",
                    "rejected candidate (" + r.reason().label() + "): " + r.getMessage() + "; could not move it to "
                            + dest + " (" + e + "), leaving it in place until it changes");
        }
        return r.getMessage();
    }

    /**
     * Removes an installed candidate from the source dir: its bytes now live in the target dir. Only when the
     * files still hold what was installed, so that a newer drop that arrived meanwhile is kept.
     */
    private void consume(CandidateReader.RawPair installedRaw) {
        try {
            CandidateReader.RawPair now = reader.read();
            if (!Arrays.equals(now.cert(), installedRaw.cert()) || !Arrays.equals(now.key(), installedRaw.key())) {
                return;
            }
            Files.deleteIfExists(config.sourceDir().resolve(CandidateReader.CERT));
            Files.deleteIfExists(config.sourceDir().resolve(CandidateReader.KEY));
        } catch (IOException | RejectedCandidate e) {
            // changed or gone meanwhile: the next check looks at it
        }
    }

    /** When the source directory was last looked at; null before the first check. */
    public Instant lastCheck() {
        return lastCheck;
    }

    /** The most recent rejection, for tests and /healthz. */
    public RejectedCandidate lastRejection() {
        return lastRejection;
    }

    /** What /v1/tls/status serves; never reads a file. */
    public TlsStatus status() {
        return status;
    }

    private void rotated(String result, RejectReason reason, String detail) {
        status = status.withRotation(
                new TlsStatus.Rotation(result, reason == null ? null : reason.label(), detail, clock.instant()));
    }

    private X509Certificate installedLeaf() {
        var cert = installer.currentCert();
        if (cert.isEmpty()) {
            return null;
        }
        try {
            return PemCodec.certificates(Files.readAllBytes(cert.get()), "installed tls.crt")
                    .get(0);
        } catch (IOException | RejectedCandidate e) {
            Log.warn("tls", "installed " + cert.get() + " does not parse, treating as absent: " + e.getMessage());
            return null;
        }
    }

    private void publishInstalled() {
        X509Certificate leaf = installedLeaf();
        if (leaf == null) {
            status = status.withInstalled(null);
            return;
        }
        metrics.installedCert(
                leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant());
        List<String> names;
        try {
            names = SubjectNames.of(leaf).all();
        } catch (CertificateParsingException e) {
            names = List.of();
        }
        status = status.withInstalled(new TlsStatus.Installed(
                PemPair.fingerprint(leaf),
                leaf.getNotBefore().toInstant(),
                leaf.getNotAfter().toInstant(),
                names));
    }

    @Override
    public void close() {
        worker.shutdownNow();
        try {
            if (watcher != null) {
                watcher.close();
            }
        } catch (IOException ignored) {
            // closing
        }
    }
}
