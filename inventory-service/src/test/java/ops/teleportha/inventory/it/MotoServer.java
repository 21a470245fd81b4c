package ops.teleportha.inventory.it;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;

/**
 * A real moto server (PyPI {@code moto[server]}) on a free loopback port, standing in for AWS in every
 * region. Found via the MOTO_SERVER variable, the repository's .venv, or PATH; the test suite's
 * install step provides it, so a missing binary is a failure, never a skip.
 */
public final class MotoServer implements AutoCloseable {
    private final Process process;
    private final int port;

    private MotoServer(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    public static MotoServer start() throws IOException, InterruptedException {
        String bin = locate();
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path log = Files.createTempFile("moto-", ".log");
        Process p = new ProcessBuilder(bin, "-H", "127.0.0.1", "-p", Integer.toString(port))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        MotoServer m = new MotoServer(p, port);
        Instant deadline = Instant.now().plus(Duration.ofSeconds(60));
        while (Instant.now().isBefore(deadline)) {
            if (!p.isAlive()) {
                throw new IllegalStateException("moto_server exited: " + Files.readString(log));
            }
            try {
                HttpURLConnection c = (HttpURLConnection)
                        URI.create(m.endpoint() + "/moto-api/").toURL().openConnection();
                c.setConnectTimeout(200);
                c.setReadTimeout(2000);
                if (c.getResponseCode() == 200) {
                    return m;
                }
            } catch (IOException notYet) {
                // not listening yet; poll again
            }
            // Bounded pause between polls that also notices the process dying.
            p.waitFor(50, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        m.close();
        throw new IllegalStateException("moto_server did not answer on port " + port + " within 60 s");
    }

    private static String locate() {
        String env = System.getenv("MOTO_SERVER");
        if (env != null && !env.isBlank()) {
            return env;
        }
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null) {
            Path candidate = dir.resolve(".venv/bin/moto_server");
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
            dir = dir.getParent();
        }
        for (String p : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path candidate = Path.of(p, "moto_server");
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        throw new IllegalStateException(
                "moto_server not found: run scripts/install-deps.sh (or make test), or set MOTO_SERVER");
    }

    public String endpoint() {
        return "http://127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
