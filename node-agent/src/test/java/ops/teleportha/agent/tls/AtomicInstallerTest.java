package ops.teleportha.agent.tls;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Clock;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicInstallerTest {
    @TempDir
    Path target;

    AtomicInstaller installer;

    @BeforeEach
    void installer() throws Exception {
        PosixFileAttributes a = Files.readAttributes(target, PosixFileAttributes.class);
        installer = new AtomicInstaller(target, a.owner().getName(), a.group().getName(), Clock.systemUTC());
    }

    @Test
    void adoptsAPlainPairLeftByAnEarlierInstallerWithoutChangingWhatItReads() throws Exception {
        Files.writeString(target.resolve("tls.crt"), "old cert");
        Files.writeString(target.resolve("tls.key"), "old key");

        assertThat(installer.recover()).isNotEmpty();

        assertThat(Files.isSymbolicLink(target.resolve("tls.crt"))).isTrue();
        assertThat(Files.readString(target.resolve("tls.crt"))).isEqualTo("old cert");
        assertThat(Files.readString(target.resolve("tls.key"))).isEqualTo("old key");
        installer.install("new cert".getBytes(), "new key".getBytes());
        assertThat(installer.rollback()).isTrue();
        assertThat(Files.readString(target.resolve("tls.key"))).isEqualTo("old key");
    }

    @Test
    void recoveryGivesTheInstalledPairsToANewOwner() throws Exception {
        // Teleport's user changes when its SSH Service is switched: the agent is restarted with the new owner.
        org.junit.jupiter.api.Assumptions.assumeTrue(
                "root".equals(System.getProperty("user.name")), "giving files to another user needs root");
        installer.install("cert 1".getBytes(), "key 1".getBytes());
        installer.install("cert 2".getBytes(), "key 2".getBytes());
        var nobody = new AtomicInstaller(target, "nobody", "nogroup", Clock.systemUTC());

        assertThat(nobody.recover())
                .as("both versions' files, the current and the previous")
                .hasSize(4)
                .allMatch(fix -> fix.contains("to nobody:nogroup (was root:"));

        for (String link : new String[] {"..data", "..previous"}) {
            for (String name : new String[] {"tls.crt", "tls.key"}) {
                PosixFileAttributes a =
                        Files.readAttributes(target.resolve(link).resolve(name), PosixFileAttributes.class);
                assertThat(a.owner().getName()).isEqualTo("nobody");
                assertThat(a.group().getName()).isEqualTo("nogroup");
            }
        }
        assertThat(Files.readAttributes(target.resolve("tls.key"), PosixFileAttributes.class)
                        .permissions())
                .as("the key's mode is kept")
                .containsExactlyInAnyOrder(
                        java.nio.file.attribute.PosixFilePermission.OWNER_READ,
                        java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        assertThat(nobody.recover()).as("a second recovery finds nothing to do").isEmpty();
    }

    @Test
    void recoveryRemovesWhatACrashLeftBehindAndKeepsTheInstalledPair() throws Exception {
        installer.install("cert 1".getBytes(), "key 1".getBytes());
        installer.install("cert 2".getBytes(), "key 2".getBytes());
        // A crash while writing version 3: a half-written version dir and a temp link that never got renamed.
        Path half = Files.createDirectory(target.resolve("..2099_01_01_00_00_00.000000000"));
        Files.writeString(half.resolve("tls.crt"), "cert 3");
        Files.createSymbolicLink(target.resolve("..data_tmp"), half.getFileName());

        assertThat(installer.recover()).hasSize(2);

        assertThat(Files.readString(target.resolve("tls.crt"))).isEqualTo("cert 2");
        assertThat(Files.readString(target.resolve("tls.key"))).isEqualTo("key 2");
        assertThat(Files.exists(half)).isFalse();
        assertThat(installer.recover())
                .as("a second recovery finds nothing to do")
                .isEmpty();
        try (Stream<Path> entries = Files.list(target)) {
            assertThat(entries.map(p -> p.getFileName().toString()).filter(n -> n.matches("\\.\\.\\d.*")))
                    .hasSize(2);
        }
    }

    @Test
    void rollbackWithoutAPreviousVersionReportsIt() throws Exception {
        installer.install("cert".getBytes(), "key".getBytes());
        assertThat(installer.rollback()).isFalse();
        assertThat(Files.readString(target.resolve("tls.crt"))).isEqualTo("cert");
    }
}
