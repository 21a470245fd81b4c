package ops.teleportha.inventory.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import ops.teleportha.inventory.inventory.InventoryBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged jar's {@code host} mode, as teleport-ha-boot runs it on an instance at boot: one instance,
 * discovered alone, named and given exactly the variables {@code list} (and {@code /v1/hosts/{name}}) give it,
 * with the same membership checks.
 */
class HostCommandIT {
    static MotoServer moto;
    static World world;
    static List<String> proxies;
    static List<String> strangers;
    static List<String> lone;

    @TempDir
    Path dir;

    @BeforeAll
    static void seed() throws Exception {
        moto = MotoServer.start();
        world = new World(moto.endpoint());
        world.group("us-west-2", "hp-auth", "hp.example.com", "auth", 1);
        proxies = world.group("eu-central-1", "hp-proxy", "hp.example.com", "proxy", 2);
        strangers = world.stranger("eu-central-1", "hp-stranger", "hp.example.com", "proxy", 1);
        lone = world.loneInstances("eu-central-1", 1, "hp.example.com");
    }

    @AfterAll
    static void stop() {
        world.close();
        moto.close();
    }

    ListCommandIT.Run host(String regions, String instanceId) throws Exception {
        Path config = Files.writeString(
                dir.resolve("inventory.yml"),
                "cluster: hp.example.com\nregions: " + regions + "\nhost_name_template: \"{role}-{instance_id}\"\n");
        ListCommandIT.Run r = ListCommandIT.run(
                moto.endpoint(), Map.of(), "host", "--config", config.toString(), "--instance-id", instanceId);
        assertThat(r.stderr()).doesNotContain("list-secret-never-printed");
        return r;
    }

    @Test
    void printsTheInstancesNameAndTheVariablesListGivesIt() throws Exception {
        String id = proxies.get(1);
        ListCommandIT.Run one = host("[eu-central-1]", id);
        assertThat(one.exit()).as(one.stderr()).isZero();
        JsonNode found = InventoryBuilder.JSON.readTree(one.stdout());
        assertThat(found.path("name").asText()).isEqualTo("proxy-" + id);

        Path config = Files.writeString(
                dir.resolve("list.yml"),
                "cluster: hp.example.com\nregions: [us-west-2, eu-central-1]\nhost_name_template: \"{role}-{instance_id}\"\n");
        ListCommandIT.Run all = ListCommandIT.run(moto.endpoint(), Map.of(), "list", "--config", config.toString());
        assertThat(all.exit()).as(all.stderr()).isZero();
        JsonNode listed = InventoryBuilder.JSON
                .readTree(all.stdout())
                .path("_meta")
                .path("hostvars")
                .path("proxy-" + id);
        assertThat(listed.isObject()).isTrue();
        // Every string unsafe, the peer address included: exactly the document's variables.
        assertThat(found.path("hostvars")).isEqualTo(listed);
        assertThat(found.path("hostvars").path("teleport_peer_public_addr").has("__ansible_unsafe"))
                .isTrue();
    }

    @Test
    void anInstanceOfAGroupThatIsNotAPoolIsRefusedWithWhy() throws Exception {
        ListCommandIT.Run r = host("[eu-central-1]", strangers.get(0));
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr())
                .contains("left out of the inventory (not_a_member)")
                .contains("hp-stranger");
    }

    @Test
    void anInstanceOutsideTheClustersGroupsIsNotFound() throws Exception {
        ListCommandIT.Run r = host("[eu-central-1]", lone.get(0));
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr()).contains("is in no Auto Scaling group of cluster hp.example.com");
    }

    @Test
    void aValueThatIsNotAnInstanceIdIsAUsageError() throws Exception {
        ListCommandIT.Run r = host("[eu-central-1]", "{{ lookup('pipe', 'id') }}");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.stderr()).contains("is not an instance id");
    }
}
