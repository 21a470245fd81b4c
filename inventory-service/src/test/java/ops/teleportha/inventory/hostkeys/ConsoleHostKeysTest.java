package ops.teleportha.inventory.hostkeys;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ConsoleHostKeysTest {
    static final String ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM/Uq/BdmQ35WzH/VcglLQhMRWCjuAE9U3vTj/F3GbhT";
    static final String ECDSA =
            "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCXnxOx+IyR71cH"
                    + "oYB50bdyh16Og/7KP4VRczlw0qdOfSTEl1JUeV6ojIYw8gIlVFld3mx0enTqZBBh5P8JLTIg=";

    /** What cloud-init 22.4 prints at boot (write-ssh-key-fingerprints), among kernel and systemd lines. */
    static String console(String... keyLines) {
        return "[    0.000000] Linux version 6.1.0\r\n"
                + "ci-info: no authorized SSH keys fingerprints found for user debian.\r\n"
                + "<14>Dec  6 09:00:00 cloud-init: #############################################################\r\n"
                + "-----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n"
                + "256 SHA256:abc root@h (ED25519)\r\n"
                + "-----END SSH HOST KEY FINGERPRINTS-----\r\n"
                + ConsoleHostKeys.BEGIN + "\r\n"
                + String.join(
                        "",
                        List.of(keyLines).stream().map(l -> l + " root@h\r\n").toList())
                + ConsoleHostKeys.END + "\r\n"
                + "[  OK  ] Reached target cloud-init.target\r\n";
    }

    @Test
    void readsTheKeysCloudInitPrinted() {
        ConsoleHostKeys.Result r = ConsoleHostKeys.parse(console(ED25519, ECDSA));
        assertThat(r.problem()).isNull();
        assertThat(r.keys()).containsExactly(ECDSA, ED25519);
    }

    @Test
    void aRebootPrintsTheSameKeysAgain() {
        assertThat(ConsoleHostKeys.parse(console(ED25519) + console(ED25519)).keys())
                .containsExactly(ED25519);
    }

    @Test
    void refusesWhatItCannotTrust() {
        assertThat(ConsoleHostKeys.parse("").problem()).contains("empty");
        assertThat(ConsoleHostKeys.parse("[ 0.0] Linux\n").problem()).contains("has no -----BEGIN SSH HOST KEY KEYS");
        assertThat(ConsoleHostKeys.parse(console(ED25519) + console(ECDSA)).problem())
                .contains("different host key sets");
        assertThat(ConsoleHostKeys.parse(console("ssh-dss AAAAB3NzaC1kc3MAAACBAP"))
                        .problem())
                .contains("unknown key type");
        assertThat(ConsoleHostKeys.parse(console("ssh-ed25519 {{lookup('pipe','id')}}"))
                        .problem())
                .contains("not base64");
        // A blob of another type under this type's name.
        assertThat(ConsoleHostKeys.parse(console("ssh-ed25519 " + ECDSA.split(" ")[1]))
                        .problem())
                .contains("names one type and holds another");
        assertThat(ConsoleHostKeys.parse(console()).problem()).contains("empty");
    }

    @Test
    void theStoreAsksTheConsoleOnceForKeysAndRetriesAMissingOneOnlyAfterAPause() {
        List<String> asked = new ArrayList<>();
        String[] out = {""};
        Instant[] now = {Instant.parse("2026-12-06T09:00:00Z")};
        Clock clock = new Clock() {
            @Override
            public ZoneOffset getZone() {
                return ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                return now[0];
            }
        };
        HostKeyStore store = new HostKeyStore(
                (region, id) -> {
                    asked.add(id);
                    return out[0];
                },
                clock);
        assertThat(store.keys("us-west-2", "i-1").found()).isFalse();
        out[0] = console(ED25519);
        assertThat(store.keys("us-west-2", "i-1").found()).isFalse(); // within the pause
        now[0] = now[0].plus(HostKeyStore.RETRY);
        assertThat(store.keys("us-west-2", "i-1").keys()).containsExactly(ED25519);
        out[0] = console(ECDSA); // a later console never changes what was learnt
        now[0] = now[0].plusSeconds(3600);
        assertThat(store.keys("us-west-2", "i-1").keys()).containsExactly(ED25519);
        assertThat(asked).containsExactly("i-1", "i-1");

        store.retain(Set.of());
        assertThat(store.keys("us-west-2", "i-1").keys()).containsExactly(ECDSA);
    }
}
