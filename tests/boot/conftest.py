"""A world for teleport-ha-boot's logic: moto for SSM, Secrets Manager and S3 (published with the
publisher's own functions, roles/cluster_config/module_utils), a fake IMDSv2 on 127.0.0.1, and stubs at
the two boundaries moto and this machine cannot play: Auto Scaling's lifecycle calls (moto does not
implement CompleteLifecycleAction or RecordLifecycleActionHeartbeat: it answers "not implemented"), so a
recording stub stands in and the tests assert the calls; and the host's commands (ansible-playbook,
java, systemctl, the local HTTP probes), which a FakeHost answers and records."""
import http.server
import importlib.util
import json
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

from moto_world import MotoServer  # noqa: E402


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


boot = load("teleport_ha_boot", ROOT / "roles/boot_kit/files/teleport_ha_boot.py")
published = load("teleport_cluster_config", ROOT / "roles/cluster_config/module_utils/teleport_cluster_config.py")

CLUSTER = "teleport.example.com"
REGION = "us-west-2"
ACCOUNT = "123456789012"
INSTANCE = "i-0123456789abcdef0"
ASG = "teleport-proxy-us-west-2"
SECRETS = {"node_agent_tls_cert_pem": "-----BEGIN CERTIFICATE-----\nCERT-NEVER-IN-SSM\n-----END CERTIFICATE-----\n",
           "node_agent_tls_key_pem": "-----BEGIN PRIVATE KEY-----\nKEY-NEVER-IN-SSM\n-----END PRIVATE KEY-----\n"}


class FakeImds:
    """IMDSv2 as EC2 answers it: PUT /latest/api/token, then GETs with the token (401 without)."""

    def __init__(self, instance_id=INSTANCE, region=REGION, host="127.0.0.1"):
        self.values = {"instance-id": instance_id, "placement/region": region,
                       "autoscaling/target-lifecycle-state": "InService"}
        self.states = []  # target lifecycle states to answer, in order, before the value above
        self.gets = []
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body=""):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    self._send(200, "TOKEN")
                else:
                    self._send(400)

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") != "TOKEN":
                    self._send(401)
                    return
                key = self.path.removeprefix("/latest/meta-data/")
                imds.gets.append(key)
                if key == "autoscaling/target-lifecycle-state" and imds.states:
                    self._send(200, imds.states.pop(0))
                elif key in imds.values:
                    self._send(200, imds.values[key])
                else:
                    self._send(404)

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.endpoint = "http://%s:%d" % (host, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class RecordingAutoScaling:
    """Auto Scaling at the boundary: records the lifecycle and health calls; describes its group."""

    def __init__(self):
        self.calls = []
        self.heartbeat = threading.Event()
        self.instances = [{"InstanceId": INSTANCE, "LifecycleState": "InService", "HealthStatus": "Healthy"}]

    def complete_lifecycle_action(self, **kw):
        self.calls.append(("CompleteLifecycleAction", kw))

    def record_lifecycle_action_heartbeat(self, **kw):
        self.calls.append(("RecordLifecycleActionHeartbeat", kw))
        self.heartbeat.set()

    def set_instance_health(self, **kw):
        self.calls.append(("SetInstanceHealth", kw))

    def describe_auto_scaling_groups(self, **kw):
        self.calls.append(("DescribeAutoScalingGroups", kw))
        return {"AutoScalingGroups": [{"AutoScalingGroupName": ASG, "Instances": [dict(i) for i in self.instances]}]}

    def names(self):
        return [c[0] for c in self.calls]

    def completions(self):
        return [c[1] for c in self.calls if c[0] == "CompleteLifecycleAction"]


class FakeHost:
    """The instance's commands: `teleport version`, `java -jar inventory-service.jar host`, ansible-playbook
    (the converge writes the configs the gates read), systemctl and the local HTTP probes."""

    def __init__(self, paths, installed="17.7.1", running="17.7.1", converge_rc=0, wait_for_heartbeat=None):
        self.paths, self.installed, self.running, self.converge_rc = paths, installed, running, converge_rc
        self.wait_for_heartbeat = wait_for_heartbeat
        self.commands, self.systemctls, self.seen = [], [], {}
        self.failed_unit = False

    def output(self, cmd, env=None, timeout=300):
        self.commands.append(cmd)
        if cmd[-1] == "version":
            return (0, "Teleport v%s git:v%s go1.22\n" % (self.installed, self.installed), "") if self.installed else (127, "", "")
        if "host" in cmd:
            config = json.loads(Path(cmd[cmd.index("--config") + 1]).read_text())
            self.seen["inventory_config"] = config
            hostvars = {"ansible_host": {"__ansible_unsafe": "10.1.0.5"}, "teleport_role": {"__ansible_unsafe": "proxy"},
                        "aws_instance_id": {"__ansible_unsafe": INSTANCE}, "aws_private_ip": {"__ansible_unsafe": "10.1.0.5"},
                        "ec2_tags": {"Evil": {"__ansible_unsafe": "{{ lookup('pipe', 'id') }}"}}}
            return 0, json.dumps({"name": INSTANCE, "hostvars": hostvars}), ""
        raise AssertionError("unexpected command %s" % cmd)

    def run(self, cmd, env=None, cwd=None, timeout=None, log=None):
        self.commands.append(cmd)
        inventory = Path(cmd[cmd.index("-i") + 1])
        secrets = Path(cmd[cmd.index("-e") + 1].lstrip("@"))
        self.seen.update(inventory_mode=inventory.stat().st_mode & 0o777, secrets_mode=secrets.stat().st_mode & 0o777,
                         inventory=json.loads(inventory.read_text()), inventory_text=inventory.read_text(),
                         secrets=json.loads(secrets.read_text()), secrets_path=secrets, env=env, cwd=cwd)
        if self.wait_for_heartbeat is not None:
            assert self.wait_for_heartbeat.wait(10), "no heartbeat while the converge ran"
        Path(self.paths.teleport_config).parent.mkdir(parents=True, exist_ok=True)
        Path(self.paths.teleport_config).write_text('version: v3\nteleport:\n  diag_addr: "10.1.0.5:3000"\n')
        Path(self.paths.node_agent_config).parent.mkdir(parents=True, exist_ok=True)
        Path(self.paths.node_agent_config).write_text("listen_addr: 10.1.0.5:9810\n")
        return self.converge_rc, ["fatal: [%s]: FAILED! => the converge broke" % INSTANCE] if self.converge_rc else []

    def systemctl(self, *args):
        self.systemctls.append(args)
        if args[0] == "is-failed":
            return 0 if self.failed_unit else 1
        return 0

    def http_get(self, url, timeout=5):
        if url.endswith("/readyz"):
            return 200, '{"status":"ok"}'
        if url.endswith("/metrics"):
            return 200, 'teleport_build_info{gitref="x",version="%s"} 1\n' % self.running
        if url.endswith("/v1/tls/status"):
            return 200, json.dumps({"installed": {"fingerprint_sha256": "ab" * 32}})
        return None, "nothing listens"


@pytest.fixture(scope="session")
def moto():
    m = MotoServer().start()
    yield m
    m.stop()


@pytest.fixture
def imds():
    i = FakeImds()
    yield i
    i.stop()
