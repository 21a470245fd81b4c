package ops.teleportha.agent.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.client.CollectorRegistry;
import java.util.Collections;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class AgentMetricsTest {
    private static List<String> names(CollectorRegistry registry) {
        return Collections.list(registry.metricFamilySamples()).stream()
                .map(f -> f.name)
                .sorted()
                .collect(Collectors.toList());
    }

    private static boolean any(List<String> names, String prefix) {
        return names.stream().anyMatch(n -> n.startsWith(AgentMetrics.PREFIX + prefix));
    }

    @Test
    void anAuthHostWithRotationOffExportsNoTlsSeries() {
        CollectorRegistry registry = new CollectorRegistry();
        new AgentMetrics(registry, "t", false, false, true);
        List<String> names = names(registry);
        // A never-set gauge reads 0: "last TLS check" would be 1970 and the certificate long expired.
        assertTrue(!any(names, "tls_"), names.toString());
        assertTrue(any(names, "peer_last_probe_cycle_timestamp_seconds"), names.toString());
    }

    @Test
    void peerProbesOffExportNoPeerSeriesAndUnsetCallsAreHarmless() {
        CollectorRegistry registry = new CollectorRegistry();
        AgentMetrics metrics = new AgentMetrics(registry, "t", false, true, false);
        metrics.peerSet(List.of("a:3021"));
        metrics.peerResult("a:3021", true, 0.001, 0.01, null);
        List<String> names = names(registry);
        assertTrue(!any(names, "peer"), names.toString());
        assertTrue(any(names, "tls_last_check_timestamp_seconds"), names.toString());
    }

    @Test
    void bothPartsOnExportBoth() {
        CollectorRegistry registry = new CollectorRegistry();
        new AgentMetrics(registry, "t", false);
        List<String> names = names(registry);
        assertTrue(any(names, "tls_cert_not_after_timestamp_seconds") && any(names, "peers"), names.toString());
        assertEquals(
                1,
                names.stream()
                        .filter(n -> n.equals(AgentMetrics.PREFIX + "build_info"))
                        .count(),
                names.toString());
    }
}
