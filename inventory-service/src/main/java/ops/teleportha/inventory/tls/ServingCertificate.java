package ops.teleportha.inventory.tls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import ops.teleportha.config.ConfigException;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.config.SecretFile;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The certificate {@code serve} answers HTTPS with (TLS 1.2 and 1.3 only), from {@code serve.tls}'s PEM files.
 * The files are polled: once a change has stayed the same for one poll (so that a pair written as two files is
 * read whole), the new pair is checked like the first one and installed without a restart. A new pair that fails
 * a check is refused with one log line and {@code teleport_inventory_tls_reload_failures_total}; the pair in use
 * stays until the files change again.
 */
public final class ServingCertificate implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServingCertificate.class);
    static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

    /** What identifies the contents of both files without reading them: a changed file changes it. */
    private record FilesState(List<Object> parts) {}

    private final InventoryConfig.Tls files;
    private final SecretFile rules;
    private final Clock clock;
    private final TlsMetrics metrics = new TlsMetrics();
    private final String storePassword = randomPassword();
    private final SslContextFactory.Server factory = new SslContextFactory.Server();
    private volatile X509Certificate leaf;
    private FilesState installed;
    private FilesState lastSeen;
    private FilesState refused;
    private ScheduledExecutorService poller;

    /**
     * Reads and checks the pair; nothing listens yet.
     *
     * @throws ConfigException naming {@code serve.tls.cert_file} or {@code serve.tls.key_file}, what is wrong and
     *     the fix
     */
    public ServingCertificate(InventoryConfig.Tls files, SecretFile rules, Clock clock) {
        this.files = files;
        this.rules = rules;
        this.clock = clock;
        FilesState state = state();
        ServedPair pair = ServedPair.read(files, rules, clock.instant());
        factory.setKeyStore(pair.keyStore(storePassword.toCharArray()));
        factory.setKeyStorePassword(storePassword);
        factory.setIncludeProtocols(PROTOCOLS.toArray(new String[0]));
        // Clients reach the service by address as often as by name, and without SNI; hostname checks are theirs.
        factory.setSniRequired(false);
        installed = state;
        lastSeen = state;
        served(pair);
    }

    private static String randomPassword() {
        byte[] b = new byte[16];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** For the HTTPS connector. */
    public SslContextFactory.Server sslContextFactory() {
        return factory;
    }

    /** The certificate being served. */
    public X509Certificate leaf() {
        return leaf;
    }

    /** Polls the files every {@code interval} from now on. */
    public synchronized ServingCertificate watch(Duration interval) {
        if (poller == null) {
            poller = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "tls-reload");
                t.setDaemon(true);
                return t;
            });
            poller.scheduleWithFixedDelay(
                    () -> {
                        try {
                            poll();
                        } catch (RuntimeException e) {
                            LOG.error("serve.tls: checking the files failed unexpectedly", e);
                        }
                    },
                    interval.toMillis(),
                    interval.toMillis(),
                    TimeUnit.MILLISECONDS);
        }
        return this;
    }

    /** One poll: install a pair whose files changed and have stayed the same since the previous poll. */
    synchronized void poll() {
        FilesState now = state();
        if (!now.equals(lastSeen)) {
            lastSeen = now; // still being written, perhaps: judge it at the next poll
            return;
        }
        if (now.equals(installed) || now.equals(refused)) {
            return;
        }
        try {
            ServedPair pair = ServedPair.read(files, rules, clock.instant());
            factory.reload(f -> f.setKeyStore(pair.keyStore(storePassword.toCharArray())));
            installed = now;
            refused = null;
            served(pair);
            LOG.info(
                    "serve.tls: now serving {} (expires {}) from {}",
                    pair.leaf().getSubjectX500Principal(),
                    pair.leaf().getNotAfter().toInstant(),
                    files.certFile());
        } catch (Exception e) {
            refused = now;
            metrics.reloadFailed();
            LOG.error(
                    "serve.tls: refused the changed files, still serving {} (expires {}): {}",
                    leaf.getSubjectX500Principal(),
                    leaf.getNotAfter().toInstant(),
                    e instanceof ConfigException ? e.getMessage() : Pem.oneLine(e));
        }
    }

    private void served(ServedPair pair) {
        leaf = pair.leaf();
        metrics.served(pair.leaf());
    }

    private FilesState state() {
        return new FilesState(List.of(attributes(files.certFile()), attributes(files.keyFile())));
    }

    private static Object attributes(Path file) {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            // The inode too: a file renamed into place can keep the size and the modification time.
            return List.of(a.lastModifiedTime(), a.size(), Objects.toString(a.fileKey()));
        } catch (IOException e) {
            return "unreadable: " + e.getClass().getSimpleName();
        }
    }

    /** The metrics in Prometheus text format, for {@code /metrics}. */
    public String scrapeMetrics() {
        return metrics.scrape();
    }

    @Override
    public synchronized void close() {
        if (poller != null) {
            poller.shutdownNow();
        }
    }
}
