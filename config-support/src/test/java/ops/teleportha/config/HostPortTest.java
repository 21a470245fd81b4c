package ops.teleportha.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class HostPortTest {
    @Test
    void parsesNamesIpv4AndBracketedIpv6() {
        assertThat(HostPort.parse("IP-198-18-1-10.ec2.internal:3021"))
                .isEqualTo(new HostPort("ip-198-18-1-10.ec2.internal", 3021));
        assertThat(HostPort.parse(" 198.18.1.10:3021 ")).isEqualTo(new HostPort("198.18.1.10", 3021));
        assertThat(HostPort.parse("[::1]:9810")).isEqualTo(new HostPort("::1", 9810));
        assertThat(HostPort.parse("[::1]:9810")).hasToString("[::1]:9810");
    }

    @Test
    void onlyListenAddressesMayAskForAnyPort() {
        assertThat(HostPort.parseListen("127.0.0.1:0").port()).isZero();
        assertThatThrownBy(() -> HostPort.parse("127.0.0.1:0")).hasMessage("port '0' must be a number from 1 to 65535");
        assertThatThrownBy(() -> HostPort.parseListen("127.0.0.1:99999"))
                .hasMessage("port '99999' must be a number from 0 to 65535");
    }

    @Test
    void saysWhatIsWrong() {
        assertThatThrownBy(() -> HostPort.parse("8790")).hasMessageStartingWith("'8790' must be host:port");
        assertThatThrownBy(() -> HostPort.parse("host:")).hasMessageStartingWith("'host:' must be host:port");
        assertThatThrownBy(() -> HostPort.parse("::1:3021")).hasMessageContaining("write an IPv6 host in brackets");
        assertThatThrownBy(() -> HostPort.parse(":3021")).hasMessageContaining("has an empty or malformed host");
        assertThatThrownBy(() -> HostPort.parse("a b:3021")).hasMessageContaining("has an empty or malformed host");
        assertThatThrownBy(() -> HostPort.parse("host:+80")).hasMessage("port '+80' must be a number from 1 to 65535");
        assertThatThrownBy(() -> HostPort.parse("host:https"))
                .hasMessage("port 'https' must be a number from 1 to 65535");
        assertThatThrownBy(() -> HostPort.parse("")).hasMessageStartingWith("must be host:port");
    }
}
