package ops.teleportha.inventory.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.security.auth.module.UnixSystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import ops.teleportha.config.ConfigException;
import ops.teleportha.inventory.config.SecretFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Which token files {@code serve} accepts: only what the service's user or root can change and others cannot read. */
class BearerTokenTest {
    static final String TOKEN = "unit-token-0123456789abcdef";
    static final long ME = new UnixSystem().getUid();

    @TempDir
    Path dir;

    private Path tokenFile(String mode) throws Exception {
        Path f = Files.writeString(dir.resolve("token"), TOKEN + "\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(mode));
        return f;
    }

    @ParameterizedTest
    @CsvSource({
        "rw--w----, is writable by its group; run chmod 0600 (or 0640) on it (mode now rw--w----)",
        "rw-rw----, is writable by its group; run chmod 0600 (or 0640) on it (mode now rw-rw----)",
        "rw-----w-, is writable by every user; run chmod 0600 (or 0640) on it (mode now rw-----w-)",
        "rw-rw-rw-, is writable by every user; run chmod 0600 (or 0640) on it (mode now rw-rw-rw-)",
        "rw----r--, is readable by every user; run chmod 0600 (or 0640) on it (mode now rw----r--)",
    })
    void aTokenFileOthersCouldChangeOrReadIsRefused(String mode, String why) throws Exception {
        Path f = tokenFile(mode);
        assertThatThrownBy(() -> new BearerToken(f, SecretFile.forUid(ME)))
                .isInstanceOf(ConfigException.class)
                .hasMessage("serve.token_file: " + f + " " + why);
    }

    @Test
    void aTokenFileOfTheServiceUserOrRootReadableByItsGroupIsAccepted() throws Exception {
        BearerToken t = new BearerToken(tokenFile("rw-r-----"), SecretFile.forUid(ME));
        assertThat(t.matches("Bearer " + TOKEN)).isTrue();
        assertThat(new BearerToken(tokenFile("r--------"), SecretFile.forUid(ME)).matches("Bearer " + TOKEN))
                .isTrue();
    }

    @Test
    void aTokenFileOwnedBySomeoneElseIsRefused() throws Exception {
        Path f = tokenFile("rw-------");
        long owner;
        long service;
        if (ME == 0) {
            // As root, hand the file to a user that is neither root nor the service.
            owner = 4242;
            Files.setAttribute(f, "unix:uid", 4242);
            service = 4243;
        } else {
            owner = ME;
            service = ME + 1;
        }
        assertThatThrownBy(() -> new BearerToken(f, SecretFile.forUid(service)))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("serve.token_file: " + f + " is owned by ")
                .hasMessageContaining("(uid " + owner + "), neither the service's user (uid " + service
                        + ") nor root; run chown root (or chown the service's user) on it");
    }

    @Test
    void aRotatedTokenFileThatOthersCouldWriteKeepsTheLastGoodToken() throws Exception {
        Path f = tokenFile("rw-------");
        BearerToken t = new BearerToken(f, SecretFile.forUid(ME));
        String rotated = "rotated-token-fedcba9876543210";
        Files.writeString(f, rotated + "\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-rw-"));
        Files.setLastModifiedTime(f, FileTime.from(Instant.now().plusSeconds(5)));
        assertThat(t.matches("Bearer " + rotated)).isFalse();
        assertThat(t.matches("Bearer " + TOKEN)).isTrue();

        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        Files.setLastModifiedTime(f, FileTime.from(Instant.now().plusSeconds(10)));
        assertThat(t.matches("Bearer " + rotated)).isTrue();
    }
}
