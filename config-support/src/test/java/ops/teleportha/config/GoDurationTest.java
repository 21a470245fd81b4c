package ops.teleportha.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class GoDurationTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "0, 0",
        "-0, 0",
        "1ns, 1",
        "1.5us, 1500",
        "1µs, 1000",
        "1μs, 1000",
        "500ms, 500000000",
        "1.5s, 1500000000",
        ".5s, 500000000",
        "2.s, 2000000000",
        "30s, 30000000000",
        "1h30m, 5400000000000",
        "168h, 604800000000000",
        "+5m, 300000000000",
        "-1.5h, -5400000000000",
        "1h1m1s1ms1us1ns, 3661001001001",
        "0.0000000015s, 1",
    })
    void acceptsGoSyntax(String text, long nanos) {
        assertThat(GoDuration.parse(text)).isEqualTo(Duration.ofNanos(nanos));
    }

    @ParameterizedTest(name = "''{0}''")
    @ValueSource(
            strings = {
                "30",
                "1h30",
                "s",
                ".s",
                "-",
                "1..5s",
                "1.2.3s",
                "5 m",
                "1d",
                "1H",
                "10 minutes",
                "soon",
                "--1s",
                "1s-"
            })
    void refusesWhatGoRefuses(String text) {
        assertThatThrownBy(() -> GoDuration.parse(text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + text.trim() + "' is not a duration")
                .hasMessageContaining("for example 500ms");
    }

    @Test
    void namesWhatIsMissing() {
        assertThatThrownBy(() -> GoDuration.parse("30"))
                .hasMessageStartingWith("'30' is not a duration (missing unit)");
        assertThatThrownBy(() -> GoDuration.parse("3d"))
                .hasMessageStartingWith("'3d' is not a duration (unknown unit 'd')");
        assertThatThrownBy(() -> GoDuration.parse(" ")).hasMessageStartingWith("must be a duration");
        assertThatThrownBy(() -> GoDuration.parse("2562048h")).hasMessageContaining("out of range");
        assertThat(GoDuration.parse("2562047h")).isEqualTo(Duration.ofHours(2562047));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "0s", "1ns", "1.5us", "250ms", "1.5ms", "1s", "1.5s", "15s", "10m", "1m30s", "1h30m", "168h", "1h0.5s", "-30s"
    })
    void formatsWhatItParses(String text) {
        assertThat(GoDuration.format(GoDuration.parse(text))).isEqualTo(text);
    }
}
