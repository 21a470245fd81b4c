package ops.teleportha.inventory.tls;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.exporter.common.TextFormat;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.security.cert.X509Certificate;

/** The served certificate's metrics, in a registry of their own that {@code /metrics} appends. */
final class TlsMetrics {
    private final CollectorRegistry registry = new CollectorRegistry(true);
    private final Counter reloadFailures = Counter.build(
                    "teleport_inventory_tls_reload_failures_total",
                    "Changed serve.tls files that were refused; the certificate in use stays.")
            .register(registry);
    private final Gauge notAfter = Gauge.build(
                    "teleport_inventory_tls_cert_not_after_timestamp_seconds", "When the served certificate expires.")
            .register(registry);

    void served(X509Certificate leaf) {
        notAfter.set(leaf.getNotAfter().getTime() / 1000.0);
    }

    void reloadFailed() {
        reloadFailures.inc();
    }

    String scrape() {
        StringWriter w = new StringWriter();
        try {
            TextFormat.write004(w, registry.metricFamilySamples());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return w.toString();
    }
}
