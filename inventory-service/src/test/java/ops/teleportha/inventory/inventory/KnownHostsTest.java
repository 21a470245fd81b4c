package ops.teleportha.inventory.inventory;

import static ops.teleportha.inventory.inventory.Hosts.host;
import static ops.teleportha.inventory.inventory.Hosts.ready;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.config.ConfigLoader;
import ops.teleportha.inventory.config.InventoryConfig;
import ops.teleportha.inventory.discovery.DiscoveredHost;
import ops.teleportha.inventory.discovery.Discovery.Outcome;
import ops.teleportha.inventory.discovery.RegionResult;
import ops.teleportha.inventory.hostkeys.HostKeyStore;
import ops.teleportha.inventory.hostkeys.KnownHosts;
import org.junit.jupiter.api.Test;

/** What SSH's KnownHostsCommand gets for a host: its own console's keys, under the name SSH searched for. */
class KnownHostsTest {
    static final Instant NOW = Instant.parse("2026-12-06T12:00:00Z");
    static final String KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM/Uq/BdmQ35WzH/VcglLQhMRWCjuAE9U3vTj/F3GbhT";

    static Inventory inventory(List<DiscoveredHost> hosts) {
        InventoryConfig c =
                new ConfigLoader(Map.of()).parse("t.yml", "cluster: tp.example.com\nregions: [us-west-2]\n");
        RegionStore store = new RegionStore(c.regions());
        store.record(new Outcome("us-west-2", new RegionResult("us-west-2", hosts, 1, 0, NOW), null, 0.1));
        return new InventoryBuilder(c).build(store.view(NOW, Duration.ofMinutes(30)), NOW);
    }

    static String console(String key) {
        return "-----BEGIN SSH HOST KEY KEYS-----\n" + key + " root@h\n-----END SSH HOST KEY KEYS-----\n";
    }

    @Test
    void answersWithTheConsolesKeysForAnAddressANameOrABracketedPort() {
        DiscoveredHost p = ready("us-west-2", "proxy", "i-p1", 11);
        List<String> asked = new ArrayList<>();
        KnownHosts kh = new KnownHosts(new HostKeyStore(
                (region, id) -> {
                    asked.add(region + " " + id);
                    return console(KEY);
                },
                Clock.fixed(NOW, ZoneOffset.UTC)));
        Inventory inv = inventory(List.of(p));

        assertThat(kh.answer(inv, p.privateIp()).lines()).isEqualTo(p.privateIp() + " " + KEY + "\n");
        assertThat(kh.answer(inv, "i-p1").lines()).isEqualTo("i-p1 " + KEY + "\n");
        assertThat(kh.answer(inv, "[" + p.privateIp() + "]:2222").lines())
                .isEqualTo("[" + p.privateIp() + "]:2222 " + KEY + "\n");
        assertThat(asked).containsExactly("us-west-2 i-p1"); // learnt once
    }

    @Test
    void refusesHostsThatAreNotInServiceOrNotOursAndConsolesWithoutKeys() {
        DiscoveredHost standby = host("us-west-2", "proxy", "i-s", 12, "Standby", "Healthy");
        DiscoveredHost p = ready("us-west-2", "proxy", "i-p1", 11);
        KnownHosts kh = new KnownHosts(new HostKeyStore((r, id) -> "booting...\n", Clock.fixed(NOW, ZoneOffset.UTC)));
        Inventory inv = inventory(List.of(standby, p));

        assertThat(kh.answer(inv, standby.privateIp()).problem()).contains("no host of the cluster that is in service");
        assertThat(kh.answer(inv, "198.18.250.250").found()).isFalse();
        assertThat(kh.answer(inv, p.privateIp()).problem())
                .startsWith("i-p1 (i-p1): the console output has no -----BEGIN SSH HOST KEY KEYS----- block");
    }
}
