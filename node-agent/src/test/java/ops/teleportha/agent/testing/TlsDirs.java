package ops.teleportha.agent.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.util.List;
import ops.teleportha.agent.config.TlsConfig;
import ops.teleportha.config.HostPort;

/** Source, target and rejected directories under a temp dir, and a {@link TlsConfig} over them. */
public record TlsDirs(Path root, Path source, Path target, Path rejected, Path trustBundle) {
    public static final List<String> NAMES = List.of("teleport.example.com", "*.teleport.example.com");

    public static TlsDirs under(Path root, TestPki pki) throws IOException {
        Path source = Files.createDirectories(root.resolve("incoming"));
        return new TlsDirs(
                root,
                source,
                root.resolve("teleport-tls"),
                root.resolve("rejected"),
                pki.writeTrustBundle(root.resolve("ca.pem")));
    }

    public TlsConfig config(HostPort verifyAddr, Duration verifyTimeout) throws IOException {
        return config(verifyAddr, verifyTimeout, Duration.ZERO);
    }

    public TlsConfig config(HostPort verifyAddr, Duration verifyTimeout, Duration settle) throws IOException {
        PosixFileAttributes attrs = Files.readAttributes(root, PosixFileAttributes.class);
        return new TlsConfig(
                true,
                source,
                target,
                rejected,
                attrs.owner().getName(),
                attrs.group().getName(),
                NAMES,
                trustBundle,
                Duration.ofDays(7),
                Duration.ofHours(1),
                settle,
                1024 * 1024,
                new TlsConfig.Reload(TlsConfig.ReloadMode.INTERVAL, List.of(), Duration.ofSeconds(5)),
                new TlsConfig.Verify(verifyAddr, "teleport.example.com", verifyTimeout, Duration.ofMillis(50)));
    }

    public TlsConfig config() throws IOException {
        return config(null, Duration.ofSeconds(1));
    }

    public void drop(String cert, String key) throws IOException {
        if (cert != null) {
            Files.writeString(source.resolve("tls.crt"), cert, StandardCharsets.US_ASCII);
        }
        if (key != null) {
            Files.writeString(source.resolve("tls.key"), key, StandardCharsets.US_ASCII);
        }
    }

    public void drop(TestPki pki, TestPki.Issued leaf) throws IOException {
        drop(pki.chainPem(leaf), TestPki.keyPem(leaf.keys().getPrivate(), TestPki.KeyFormat.PKCS8));
    }

    public String installedCert() throws IOException {
        return Files.readString(target.resolve("tls.crt"));
    }

    public String installedKey() throws IOException {
        return Files.readString(target.resolve("tls.key"));
    }
}
