package ops.teleportha.agent.tls;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NameMatcherTest {
    @ParameterizedTest(name = "SAN {0} covers {1}: {2}")
    @CsvSource({
        "teleport.example.com,     teleport.example.com,      true",
        "Teleport.Example.COM,     teleport.example.com,      true",
        "teleport.example.com.,    teleport.example.com,      true",
        "*.example.com,            teleport.example.com,      true",
        "*.example.com,            example.com,               false",
        "*.example.com,            a.b.example.com,           false",
        "*.teleport.example.com,   *.teleport.example.com,    true",
        "*.example.com,            *.teleport.example.com,    false",
        "teleport.example.com,     *.teleport.example.com,    false",
        "a.teleport.example.com,   *.teleport.example.com,    false",
        "t*.example.com,           teleport.example.com,      false",
        "*.com,                    example.com,               false",
        "*.*.example.com,          a.b.example.com,           false",
        "other.example.com,        teleport.example.com,      false",
    })
    void appliesTlsWildcardRules(String san, String required, boolean covered) {
        assertThat(NameMatcher.covers(List.of(san), List.of(), required)).isEqualTo(covered);
    }

    @ParameterizedTest
    @CsvSource({"127.0.0.1, 127.0.0.1, true", "127.0.0.1, 127.0.0.2, false", "::1, 0:0:0:0:0:0:0:1, true"})
    void matchesIpAddressesOnlyAgainstIpSans(String san, String required, boolean covered) {
        assertThat(NameMatcher.covers(List.of(), List.of(san), required)).isEqualTo(covered);
        assertThat(NameMatcher.covers(List.of(san), List.of(), required)).isFalse();
    }
}
