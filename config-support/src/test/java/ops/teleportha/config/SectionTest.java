package ops.teleportha.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SectionTest {
    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void collectsEveryProblemWithItsPathBeforeThrowing() {
        Section root = Section.root(
                map(
                        "peers", map("interval", "0s", "timeout", "soon", "typo", 1),
                        "port", 70000,
                        "names", List.of("a", "", List.of())),
                "docs/x.md",
                Map.of());
        Section peers = root.section("peers");
        assertThat(peers.positiveDuration("interval", "15s")).isNull();
        assertThat(peers.positiveDuration("timeout", "3s")).isNull();
        peers.done();
        assertThat(root.intInRange("port", 9810, 1, 65535)).isEqualTo(9810);
        assertThat(root.stringList("names", List.of())).containsExactly("a");
        assertThat(root.requiredString("cluster")).isNull();
        root.done();

        ConfigException e = catchThrowableOfType(ConfigException.class, () -> root.throwIfProblems("x.yaml"));
        assertThat(e.problems())
                .containsExactly(
                        "peers.interval: must be > 0",
                        "peers.timeout: 'soon' is not a duration; use a number with a unit (ns, us, ms, s, m, h), for example 500ms, 30s, 5m or 168h",
                        "peers.typo: unknown key; check the spelling against docs/x.md",
                        "port: must be from 1 to 65535, got 70000",
                        "names[1]: must be a non-empty string",
                        "names[2]: must be a non-empty string",
                        "cluster: is required");
        assertThat(e.lines()).allMatch(l -> l.startsWith("x.yaml: "));
        assertThat(e.getMessage()).startsWith("x.yaml: peers.interval: must be > 0\nx.yaml: peers.timeout: ");
    }

    @Test
    void defaultsApplyOnlyWhenAbsentAndRangeRulesStayAtTheKey() {
        Section root = Section.root(map("settle", "0s", "on", false, "n", "7"), "d", Map.of());
        assertThat(root.nonNegativeDuration("settle", "2s")).isEqualTo(Duration.ZERO);
        assertThat(root.positiveDuration("rescan", "30s")).isEqualTo(Duration.ofSeconds(30));
        assertThat(root.bool("on", true)).isFalse();
        assertThat(root.intInRange("n", 1, 1, 10)).isEqualTo(7);
        assertThat(root.nonNegativeDuration("negative", "-1s")).isNull();
        assertThat(root.problems()).containsExactly("negative: must be >= 0");
    }

    @Test
    void problemsNameTheEnvironmentVariableTheValueCameFrom() {
        Section root = Section.root(
                map("serve", map("listen_port", "1"), "regions", List.of("")),
                "d",
                Map.of("serve.listen_port", "APP_SERVE__LISTEN_PORT", "regions", "APP_REGIONS"));
        root.section("serve").done();
        root.stringList("regions", null);
        assertThat(root.problems())
                .containsExactly(
                        "serve.listen_port: unknown key; check the spelling against d (set by environment variable APP_SERVE__LISTEN_PORT)",
                        "regions[0]: must be a non-empty string (set by environment variable APP_REGIONS)");
    }

    @Test
    void shapesThatAreNotMappingsAreProblems() {
        assertThat(Section.root(List.of("a"), "d", Map.of()).problems())
                .containsExactly("the top level must be a mapping of keys to values, not a list");
        Section root = Section.root(map("tls", "yes", "cluster", List.of("a"), "addr", map()), "d", Map.of());
        root.section("tls");
        root.optionalString("cluster");
        root.value("addr", null, s -> s);
        assertThat(root.problems())
                .containsExactly(
                        "tls: must be a mapping of keys to values, not a single value",
                        "cluster: must be a string",
                        "addr: must be a single value, not a mapping");
        assertThat(Section.root(null, "d", Map.of()).problems()).isEmpty();
    }
}
