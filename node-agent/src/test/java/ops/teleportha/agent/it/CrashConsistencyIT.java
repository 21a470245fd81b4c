package ops.teleportha.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import ops.teleportha.agent.testing.AgentProcess;
import ops.teleportha.agent.testing.Listeners;
import ops.teleportha.agent.testing.PairCheck;
import ops.teleportha.agent.testing.TestPki;
import ops.teleportha.agent.testing.TestPki.KeyType;
import ops.teleportha.agent.testing.TlsDirs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rotations while the agent is SIGKILLed at random points. An observer reads the installed pair the way
 * Teleport does (tls.crt, then tls.key, through the symlinks) the whole time: whenever {@code ..data} did not
 * move during the read, the two must match. After the last restart, recovery leaves a clean directory.
 */
class CrashConsistencyIT {
    static final int ROUNDS = 15;

    @TempDir
    Path tmp;

    @Test
    void theInstalledPairAlwaysMatchesAcrossKillsAndRecoveryIsClean() throws Exception {
        TestPki pki = TestPki.create();
        TlsDirs dirs = TlsDirs.under(tmp, pki);
        int port = Listeners.closedPort();
        Path cfg = Files.writeString(
                tmp.resolve("agent.yaml"),
                AgentJarIT.config(dirs, port, null)
                        .replace("settle_time: 200ms", "settle_time: 50ms")
                        .replace("rescan_interval: 1h", "rescan_interval: 200ms"));
        Path log = tmp.resolve("agent.log");
        Random random = new Random(Long.getLong("crash.seed", System.nanoTime()));
        Instant base = Instant.now().minus(Duration.ofDays(1));

        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger observations = new AtomicInteger();
        ConcurrentLinkedQueue<String> mismatches = new ConcurrentLinkedQueue<>();
        Thread observer = new Thread(() -> observe(dirs.target(), stop, observations, mismatches), "observer");
        observer.start();
        int killedBeforeHealthy = 0;
        String finalLog;
        try {
            int dropped = 0;
            for (int round = 0; round < ROUNDS; round++) {
                AgentProcess agent = AgentProcess.start(cfg, port, log);
                if (random.nextInt(5) == 0) {
                    dropAtomically(dirs, pki, leaf(pki, base, dropped++));
                    Thread.sleep(random.nextInt(800)); // kill during JVM start or recovery
                    killedBeforeHealthy++;
                } else {
                    agent.awaitHealthy(Duration.ofSeconds(60));
                    // Keep candidates coming so the kill lands anywhere in validate / install / swap / consume.
                    long killAt = System.nanoTime()
                            + Duration.ofMillis(300 + random.nextInt(1700)).toNanos();
                    while (System.nanoTime() < killAt) {
                        dropAtomically(dirs, pki, leaf(pki, base, dropped++));
                        // Up to settle_time + a rescan apart: the agent judges a drop once it has been quiet for
                        // settle_time (ctime counts, so a pair renamed in is not judged half-landed), so some drops
                        // must stay long enough to reach the swap while others replace a drop being judged.
                        Thread.sleep(random.nextInt(300));
                    }
                }
                agent.kill();
            }

            try (AgentProcess agent = AgentProcess.start(cfg, port, log).awaitHealthy(Duration.ofSeconds(60))) {
                AgentJarIT.poll(() -> isEmpty(dirs.source()), agent);
                Path target = dirs.target();
                assertThat(PairCheck.matches(
                                Files.readAllBytes(target.resolve("tls.crt")),
                                Files.readAllBytes(target.resolve("tls.key"))))
                        .isTrue();
                try (Stream<Path> entries = Files.list(target)) {
                    List<String> names = entries.map(p -> p.getFileName().toString())
                            .sorted()
                            .toList();
                    assertThat(names).noneMatch(n -> n.endsWith("_tmp"));
                    assertThat(names.stream()
                                    .filter(n -> n.matches("\\.\\.\\d.*"))
                                    .count())
                            .isBetween(1L, 2L);
                    assertThat(names).contains("..data", "tls.crt", "tls.key");
                }
                assertThat(agent.logText()).doesNotContain("Exception in thread");
                finalLog = agent.logText();
            }
        } finally {
            stop.set(true);
            observer.join();
        }
        assertThat(mismatches)
                .as("mismatched pairs seen (killed before healthy %d times)", killedBeforeHealthy)
                .isEmpty();
        long installs =
                finalLog.lines().filter(l -> l.contains("[tls] installed ..")).count();
        assertThat(observations.get())
                .as("observations; agent log:\n%s", finalLog)
                .isGreaterThan(100);
        assertThat(installs).as("rotations that got as far as the swap").isGreaterThan(ROUNDS);
        System.out.printf(
                "crash consistency: %d SIGKILLs (%d before healthy), %d installs logged, %d consistent observations%n",
                ROUNDS, killedBeforeHealthy, installs, observations.get());
    }

    /** Each candidate is newer than the last, so none is refused as older than the installed pair. */
    private static TestPki.Issued leaf(TestPki pki, Instant base, int n) {
        return pki.leaf(
                n % 4 == 0 ? KeyType.RSA : KeyType.EC,
                TlsDirs.NAMES,
                base.plusSeconds(60L * n),
                Instant.now().plus(Duration.ofDays(30)));
    }

    /** Like a careful provisioning step: write aside, then rename into the source dir, key first. */
    private static void dropAtomically(TlsDirs dirs, TestPki pki, TestPki.Issued leaf) throws Exception {
        Path crt = Files.writeString(dirs.source().resolve(".tls.crt.part"), pki.chainPem(leaf));
        Path key = Files.writeString(
                dirs.source().resolve(".tls.key.part"),
                TestPki.keyPem(leaf.keys().getPrivate(), TestPki.KeyFormat.PKCS8));
        Files.move(
                key,
                dirs.source().resolve("tls.key"),
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        Files.move(
                crt,
                dirs.source().resolve("tls.crt"),
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
    }

    private static void observe(
            Path target, AtomicBoolean stop, AtomicInteger observations, ConcurrentLinkedQueue<String> mismatches) {
        Path data = target.resolve("..data");
        while (!stop.get()) {
            try {
                Path before = Files.readSymbolicLink(data);
                byte[] cert = Files.readAllBytes(target.resolve("tls.crt"));
                byte[] key = Files.readAllBytes(target.resolve("tls.key"));
                Path after = Files.readSymbolicLink(data);
                if (!before.equals(after)) {
                    continue; // swapped mid-read: Teleport retries such a read at its next reload
                }
                observations.incrementAndGet();
                if (!PairCheck.matches(cert, key)) {
                    mismatches.add("mismatch in " + before);
                }
            } catch (java.nio.file.NoSuchFileException notInstalledYet) {
                // before the first install
            } catch (Exception e) {
                mismatches.add("unreadable pair: " + e);
            }
        }
    }

    private static boolean isEmpty(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.noneMatch(p -> p.getFileName().toString().startsWith("tls."));
        }
    }
}
