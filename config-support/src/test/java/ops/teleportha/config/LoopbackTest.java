package ops.teleportha.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class LoopbackTest {
    @Test
    void loopbackIs127SlashEightColonColonOneAndLocalhostOnly() {
        for (String h : List.of(
                "127.0.0.1",
                "127.1.2.3",
                "127.255.255.255",
                "localhost",
                "LOCALHOST",
                "::1",
                "[::1]",
                "0:0:0:0:0:0:0:1",
                "[0:0:0:0:0:0:0:1]",
                "0::1")) {
            assertThat(Loopback.is(h)).as(h).isTrue();
        }
        for (String h : List.of(
                "127.example.com",
                "127.0.0.1.nip.io",
                "0.0.0.0",
                "::",
                "[::]",
                "198.18.1.1",
                "128.0.0.1",
                "127.0.0.256",
                "::ffff:127.0.0.1",
                "[127.0.0.1]",
                "1::1",
                "0:0:0:0:0:0:0:0:1",
                "localhost.",
                "",
                "::2")) {
            assertThat(Loopback.is(h)).as(h).isFalse();
        }
        assertThat(Loopback.is(null)).isFalse();
    }
}
