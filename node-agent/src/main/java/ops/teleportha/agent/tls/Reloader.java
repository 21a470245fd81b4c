package ops.teleportha.agent.tls;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import ops.teleportha.agent.Log;
import ops.teleportha.agent.config.TlsConfig;

/** Tells Teleport to read the pair again: nothing in interval mode, else the configured command. */
public final class Reloader {
    private final TlsConfig.Reload config;

    public Reloader(TlsConfig.Reload config) {
        this.config = config;
    }

    /** @return true when the reload was triggered (or is Teleport's own business) */
    public boolean reload() {
        if (config.mode() == TlsConfig.ReloadMode.INTERVAL) {
            return true; // Teleport re-reads at its https_keypairs_reload_interval
        }
        try {
            Process p = new ProcessBuilder(config.command())
                    .redirectErrorStream(true)
                    .start();
            p.getOutputStream().close();
            // Drain concurrently so a chatty command cannot block on a full pipe.
            var output = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(p.getInputStream().readAllBytes()).trim();
                } catch (IOException e) {
                    return "";
                }
            });
            boolean done = p.waitFor(config.commandTimeout().toMillis(), TimeUnit.MILLISECONDS);
            if (!done) {
                p.destroyForcibly();
                Log.error(
                        "tls",
                        "reload command " + config.command() + " did not finish within tls.reload.command_timeout");
                return false;
            }
            if (p.exitValue() != 0) {
                String out = output.completeOnTimeout("", 1, TimeUnit.SECONDS).join();
                Log.error(
                        "tls",
                        "reload command " + config.command() + " exited " + p.exitValue() + ": "
                                + out.substring(0, Math.min(out.length(), 500)));
                return false;
            }
            return true;
        } catch (IOException e) {
            Log.error("tls", "reload command " + config.command() + " failed to start: " + e.getMessage());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
