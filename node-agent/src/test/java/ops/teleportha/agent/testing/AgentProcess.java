package ops.teleportha.agent.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.Yaml;

/** The packaged jar run as a real process, as systemd would run it. */
public final class AgentProcess implements AutoCloseable {
    /**
     * The JVM options the role's unit runs the agent with, read from their one source
     * (roles/node_agent/defaults/main.yml, node_agent_jvm_opts), so the tests prove they are enough.
     */
    public static final List<String> JVM_OPTS = roleJvmOptions();

    private static List<String> roleJvmOptions() {
        Path defaults = Path.of(System.getProperty("user.dir"))
                .resolve("../roles/node_agent/defaults/main.yml")
                .normalize();
        try {
            Map<String, Object> vars = new Yaml().load(Files.readString(defaults));
            return List.of(
                    String.valueOf(vars.get("node_agent_jvm_opts")).trim().split("\\s+"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the role's JVM options from " + defaults, e);
        }
    }

    private final Process process;
    private final int port;
    private final Path log;

    private AgentProcess(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    public static Path jar() {
        String jar = System.getProperty("node.agent.jar");
        assertThat(jar).as("system property node.agent.jar (set by failsafe)").isNotNull();
        assertThat(Path.of(jar)).exists();
        return Path.of(jar);
    }

    public static List<String> command(Path config, String... extra) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(JVM_OPTS);
        cmd.add("-jar");
        cmd.add(jar().toString());
        cmd.add("--config");
        cmd.add(config.toString());
        cmd.addAll(List.of(extra));
        return cmd;
    }

    /** Starts the agent; does not wait for it. */
    public static AgentProcess start(Path config, int port, Path log) throws IOException {
        return start(List.of(), config, port, log);
    }

    /** @param prefix run the agent through this, as {@code setpriv --reuid=...} to run it as another user */
    public static AgentProcess start(List<String> prefix, Path config, int port, Path log) throws IOException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(command(config));
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        return new AgentProcess(p, port, log);
    }

    /** Polls /healthz until it answers 200. */
    public AgentProcess awaitHealthy(Duration within) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            assertThat(process.isAlive())
                    .as("agent exited early; log:\n%s", logText())
                    .isTrue();
            try {
                if (get("/healthz").startsWith("ok")) {
                    return this;
                }
            } catch (IOException notYet) {
                // starting
            }
            assertThat(System.nanoTime())
                    .as("agent not healthy in time; log:\n%s", logText())
                    .isLessThan(deadline);
            Thread.sleep(25);
        }
    }

    public String get(String path) throws IOException {
        HttpURLConnection c = (HttpURLConnection)
                URI.create("http://127.0.0.1:" + port + path).toURL().openConnection();
        c.setConnectTimeout(1000);
        c.setReadTimeout(5000);
        try (var in = c.getInputStream()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    /** SIGKILL: no shutdown hook, no cleanup, like a power cut for this process. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    public String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroyForcibly();
        try {
            process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
