#!/usr/bin/env python3
"""teleport-ha-boot: an instance of the Teleport auth or proxy pool configures itself (docs/boot.md).

  teleport-ha-boot boot [--config /etc/teleport-ha/boot.json]   the user data runs it once, at first boot
  teleport-ha-boot watch-termination [--config ...]             teleport-ha-lifecycle.service: the drain
  teleport-ha-boot report-unhealthy [--config ...]              teleport.service's OnFailure=: the liveness report

boot reads the instance's identity from IMDSv2, the published configuration of its pool (the SSM
parameter, the secret, the boot kit, whose sha256 it verifies before anything from it runs), names
itself with the inventory service's own naming (inventory-service host), runs playbooks/boot.yml
(the plays site.yml runs) on itself, gates on Teleport's /readyz, its running version and, on a
proxy, the node-agent's TLS status, and completes the launch hook CONTINUE. Any failure completes it
ABANDON, with the reason in its log and on the console, and Auto Scaling replaces the instance.

Python's standard library and boto3 (the kit's venv, /opt/teleport-ha/venv); PyYAML, which
ansible-core brings there, for two YAML files.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request

BOOT_FORMAT = 1
CONFIG_FORMAT = 1
DEFAULT_CONFIG = "/etc/teleport-ha/boot.json"
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+\Z")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}\Z")
# What an inventory host name may be (the inventory service's own rule, Values.HOST_NAME).
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}\Z")
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_VERSION = re.compile(r"Teleport (?:Enterprise )?v([0-9][^ \n]*)")
_BUILD_INFO = re.compile(r'teleport_build_info\{(?:[^}]*,)?version="([^"]+)"')
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# The instance's own tags that say how its boot converge ended, for the inventory service (docs/boot.md,
# "Visible in the inventory"): the reason class of an ABANDON, or the digest of the configuration it
# converged with. The boot policy lets an instance write only these two keys, and the inventory reads them
# as data (a reason must match _REASON, a digest _SHA256), never as anything else.
TAG_BOOT_FAILURE = "teleport-ha:boot-failure"
TAG_BOOT_DIGEST = "teleport-ha:boot-config-digest"
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,31}\Z")


class BootFailure(Exception):
    """A named reason to abandon: reason is a short class (secret_missing, kit_digest, converge, version, ...)."""

    def __init__(self, reason, detail):
        super().__init__("%s: %s" % (reason, detail))
        self.reason, self.detail = reason, detail


class Paths:
    """Every place on the host the script reads or writes (tests point them elsewhere)."""

    def __init__(self, root="/"):
        def at(p):
            return os.path.join(root, p.lstrip("/"))
        self.home = at("/opt/teleport-ha")
        self.venv = at("/opt/teleport-ha/venv")
        self.collections = at("/opt/teleport-ha/collections")
        self.inventory_jar = at("/opt/teleport-ha/inventory-service.jar")
        self.kits = at("/opt/teleport-ha/kits")
        self.state = at("/var/lib/teleport-ha")
        self.log_dir = at("/var/log/teleport-ha")
        self.work_parent = at("/run") if os.path.isdir(at("/run")) else None
        self.console = at("/dev/console")
        self.tarball_cache = at("/var/cache/teleport")
        self.teleport_config = at("/etc/teleport.yaml")
        self.node_agent_config = at("/etc/node-agent/node-agent.yaml")

    @property
    def booted(self):
        return os.path.join(self.state, "booted.json")


class Log:
    """Timestamped lines to stderr (cloud-init's output and the console) and to a log file."""

    def __init__(self, path=None, console=None):
        self.path, self.console = path, console

    def __call__(self, msg):
        line = "%s teleport-ha-boot: %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), msg)
        print(line, file=sys.stderr, flush=True)
        if self.path:
            try:
                os.makedirs(os.path.dirname(self.path), mode=0o750, exist_ok=True)
                with open(self.path, "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass  # the log file is a convenience; stderr has it

    def loud(self, msg):
        """A line for whoever reads the instance's console (EC2 GetConsoleOutput)."""
        self(msg)
        if self.console:
            try:
                with open(self.console, "a") as c:
                    c.write("teleport-ha-boot: %s\n" % msg)
            except OSError:
                pass  # no console to write to; stderr has it


# --- IMDSv2 ---------------------------------------------------------------------------------------

class Imds:
    """IMDSv2 (a session token first); AWS_EC2_METADATA_SERVICE_ENDPOINT as the SDKs honour it."""

    def __init__(self, endpoint=None, timeout=2.0, attempts=5, sleep=time.sleep):
        self.endpoint = (endpoint or os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                         or "http://169.254.169.254").rstrip("/")
        self.timeout, self.attempts, self.sleep = timeout, attempts, sleep
        self._token = None

    def _request(self, method, path, headers):
        req = urllib.request.Request(self.endpoint + path, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            return r.read().decode("utf-8")

    def token(self):
        if self._token is None:
            self._token = self._request("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        return self._token

    def get(self, path):
        """A metadata value, or None when IMDS has none (404). Retries transient failures a few times."""
        last = None
        for attempt in range(self.attempts):
            try:
                return self._request("GET", "/latest/meta-data/" + path, {"X-aws-ec2-metadata-token": self.token()})
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    return None
                if e.code == 401:
                    self._token = None
                last = e
            except (urllib.error.URLError, OSError) as e:
                last = e
            if attempt + 1 < self.attempts:
                self.sleep(0.5 * (attempt + 1))  # backoff between attempts at IMDS
        raise BootFailure("imds", "IMDS at %s did not answer %s: %s" % (self.endpoint, path, last))

    def instance_id(self):
        value = self.get("instance-id") or ""
        if not _INSTANCE_ID.match(value):
            raise BootFailure("imds", "IMDS gave the instance id %r, which is not one" % value)
        return value

    def region(self):
        value = self.get("placement/region") or ""
        if not _REGION.match(value):
            raise BootFailure("imds", "IMDS gave the region %r, which is not one" % value)
        return value

    def target_lifecycle_state(self):
        return self.get("autoscaling/target-lifecycle-state")


# --- what the user data wrote -----------------------------------------------------------------------

_BOOT_KEYS = {"version": int, "cluster": str, "role": str, "region": str, "asg": str, "launch_hook": str,
              "terminate_hook": str, "parameter": str, "secret": str, "bucket": str, "kit_key": str,
              "heartbeat_seconds": int, "terminate_heartbeat_seconds": int, "drain_seconds": int}


def load_boot_config(path):
    """boot.json as aws-pools.yml writes it, checked: a wrong one stops before any AWS call."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise BootFailure("boot_config", "cannot read %s: %s" % (path, e)) from e
    if not isinstance(cfg, dict):
        raise BootFailure("boot_config", "%s is not a JSON object" % path)
    problems = []
    for key, kind in _BOOT_KEYS.items():
        if not isinstance(cfg.get(key), kind) or isinstance(cfg.get(key), bool):
            problems.append("%s must be a %s" % (key, kind.__name__))
    if not problems:
        if cfg["version"] != BOOT_FORMAT:
            problems.append("version %s is not %s (an AMI older than its launch template?)" % (cfg["version"], BOOT_FORMAT))
        if cfg["role"] not in ("auth", "proxy"):
            problems.append("role must be auth or proxy")
        if not _REGION.match(cfg["region"]):
            problems.append("region %r is not a region" % cfg["region"])
        for key in ("cluster", "asg", "launch_hook", "terminate_hook", "parameter", "secret", "kit_key"):
            if not _NAME.match(cfg[key].lstrip("/")):
                problems.append("%s %r is not a name" % (key, cfg[key]))
        for key in ("heartbeat_seconds", "terminate_heartbeat_seconds", "drain_seconds"):
            if not 0 <= cfg[key] <= 7200:
                problems.append("%s must be 0-7200" % key)
    if problems:
        raise BootFailure("boot_config", "%s: %s; aws-pools.yml writes it (the launch template's user data)"
                          % (path, "; ".join(problems)))
    return cfg


# --- documents ---------------------------------------------------------------------------------------

def canonical(doc):
    """The bytes the publisher digested (roles/cluster_config/module_utils/teleport_cluster_config.py)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(doc):
    return hashlib.sha256(canonical(doc)).hexdigest()


def unsafe(value):
    """Every string as Ansible's unsafe text ({"__ansible_unsafe": ...}, which its JSON decoder reads), at any
    depth: what was published is data, already templated on the controller, never a template here."""
    if isinstance(value, str):
        return {"__ansible_unsafe": value}
    if isinstance(value, list):
        return [unsafe(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value
        return {k: unsafe(v) for k, v in value.items()}
    return value


def group_safe(name):
    """The inventory service's group name fragment (HostNaming.groupSafe)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def tarball_name(edition, version, machine=None):
    """The teleport role's _teleport_tarball_name."""
    product = "teleport-ent" if edition == "enterprise" else "teleport"
    return "%s-v%s-linux-%s-bin.tar.gz" % (product, version, _ARCH.get(machine or platform.machine(), "amd64"))


def extract_kit(archive, dest):
    """Unpacks the verified kit; refuses members outside dest, links and devices."""
    os.makedirs(dest, mode=0o755, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar.getmembers():
            path = os.path.normpath(os.path.join(dest, m.name))
            if m.name.startswith("/") or not (path == dest or path.startswith(dest + os.sep)):
                raise BootFailure("kit", "the kit holds %r, outside its directory" % m.name)
            if not (m.isdir() or m.isfile()):
                raise BootFailure("kit", "the kit holds %r, neither a file nor a directory" % m.name)
        if hasattr(tarfile, "data_filter"):  # Python 3.12, and 3.8-3.11 since their 2023 security releases
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)  # every member was checked above


# --- the host's own commands, replaceable in tests ----------------------------------------------------

class Host:
    def run(self, cmd, env=None, cwd=None, timeout=None, log=None):
        """Runs cmd, each output line to log; returns (exit code, last lines). A timeout kills its process group."""
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        tail = []
        killer = None
        if timeout:
            killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
            killer.start()
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail = (tail + [line])[-40:]
                if log:
                    log("  | " + line)
            rc = proc.wait()
        finally:
            if killer:
                killer.cancel()
        if timeout and rc == -signal.SIGKILL:
            return None, tail
        return rc, tail

    def output(self, cmd, env=None, timeout=300):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def systemctl(self, *args):
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=600).returncode

    def http_get(self, url, timeout=5):
        """(status, body) of a local probe; (None, reason) when nothing answers."""
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as e:
            return None, str(e)


# botocore asks IMDS for the instance profile's credentials with a 1 s timeout and 1 attempt by default; an
# instance booting under load (or IMDS throttling its callers) then gets NoCredentialsError, cannot even complete
# its hook ABANDON, and waits out the hook's whole timeout. The boot, the converge's AWS modules (they inherit the
# environment) and the drain wait longer. A value set in the environment wins.
IMDS_PATIENCE = {"AWS_METADATA_SERVICE_TIMEOUT": "5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "5"}


def imds_patience(environ=os.environ):
    for key, value in IMDS_PATIENCE.items():
        environ.setdefault(key, value)


def aws_client(service, region):
    import boto3  # the kit's venv
    imds_patience()
    return boto3.client(service, region_name=region)


class Heartbeat:
    """RecordLifecycleActionHeartbeat every interval while a long step runs."""

    def __init__(self, asg, hook, group, instance_id, interval, log):
        self.args = dict(LifecycleHookName=hook, AutoScalingGroupName=group, InstanceId=instance_id)
        self.asg, self.interval, self.log = asg, interval, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while not self._stop.wait(self.interval):
            try:
                self.asg.record_lifecycle_action_heartbeat(**self.args)
                self.log("heartbeat sent for %s" % self.args["LifecycleHookName"])
            except Exception as e:  # a missed heartbeat is not fatal: the next one may pass
                self.log("heartbeat for %s failed: %s" % (self.args["LifecycleHookName"], e))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


# --- boot -------------------------------------------------------------------------------------------

class Boot:
    def __init__(self, cfg, imds, paths, host, log, aws=aws_client, asg=None, gate_timeout=180.0,
                 converge_timeout=3600.0, poll=1.0, sleep=time.sleep):
        self.cfg, self.imds, self.paths, self.host, self.log = cfg, imds, paths, host, log
        self.aws, self.asg = aws, asg
        self.gate_timeout, self.converge_timeout, self.poll, self.sleep = gate_timeout, converge_timeout, poll, sleep
        self.instance_id = None

    # Each step names what it proves; a failure is a BootFailure with the reason an operator acts on.

    def identity(self):
        self.instance_id = self.imds.instance_id()
        region = self.imds.region()
        if region != self.cfg["region"]:
            raise BootFailure("boot_config", "the instance runs in %s but boot.json is for %s" % (region, self.cfg["region"]))
        if self.asg is None:
            self.asg = self.aws("autoscaling", region)
        self.log("instance %s (%s pool, group %s, %s)" % (self.instance_id, self.cfg["role"], self.cfg["asg"], region))

    def configuration(self):
        ssm = self.aws("ssm", self.cfg["region"])
        name = self.cfg["parameter"]
        try:
            value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            raise BootFailure("config_missing", "SSM parameter %s does not exist in %s: nothing is published for the %s "
                                                "pool; run site.yml or playbooks/cluster-config.yml"
                              % (name, self.cfg["region"], self.cfg["role"])) from None
        try:
            doc = json.loads(value)
        except ValueError as e:
            raise BootFailure("config_invalid", "SSM parameter %s is not JSON: %s" % (name, e)) from e
        body = {k: v for k, v in doc.items() if k != "digest"}
        problems = []
        if doc.get("version") != CONFIG_FORMAT:
            problems.append("format %r, this AMI reads %s" % (doc.get("version"), CONFIG_FORMAT))
        if doc.get("cluster") != self.cfg["cluster"] or doc.get("role") != self.cfg["role"]:
            problems.append("it is %s/%s, this instance %s/%s" % (doc.get("cluster"), doc.get("role"),
                                                                   self.cfg["cluster"], self.cfg["role"]))
        if doc.get("digest") != digest(body):
            problems.append("its digest does not match its content")
        for key, kind in (("vars", dict), ("inventory", dict), ("kit", dict), ("secret", dict), ("release", dict),
                          ("teleport_version", str)):
            if not isinstance(doc.get(key), kind):
                problems.append("%s is missing" % key)
        if not problems and not _SHA256.match(str(doc["kit"].get("sha256", ""))):
            problems.append("kit.sha256 is not a sha256")
        if problems:
            raise BootFailure("config_invalid", "SSM parameter %s: %s" % (name, "; ".join(problems)))
        self.log("published configuration %s: Teleport %s, digest %s" % (name, doc["teleport_version"], doc["digest"][:16]))
        return doc

    def secret(self, doc):
        sm = self.aws("secretsmanager", self.cfg["region"])
        name = doc["secret"].get("name")
        if name != self.cfg["secret"]:
            raise BootFailure("config_invalid", "the parameter names the secret %r, boot.json %r" % (name, self.cfg["secret"]))
        try:
            text = sm.get_secret_value(SecretId=name)["SecretString"]
        except sm.exceptions.ResourceNotFoundException:
            raise BootFailure("secret_missing", "secret %s does not exist in %s: publish it (site.yml or "
                                                "playbooks/cluster-config.yml)" % (name, self.cfg["region"])) from None
        except Exception as e:
            raise BootFailure("secret_unreadable", "secret %s cannot be read: %s (the instance profile's "
                                                   "teleport-ha-boot-%s policy, docs/iam/)" % (name, e, self.cfg["role"])) from e
        try:
            secret = json.loads(text)
        except ValueError:
            raise BootFailure("secret_invalid", "secret %s is not JSON" % name) from None  # never its content
        if digest(secret) != doc["secret"].get("sha256"):
            raise BootFailure("secret_digest", "secret %s is not the one the parameter was published with (a publish "
                                               "under way, or a change by hand): publish again" % name)
        if not isinstance(secret.get("vars"), dict) or not isinstance(secret.get("files", {}), dict):
            raise BootFailure("secret_invalid", "secret %s has no vars" % name)
        return secret

    def kit(self, doc, work):
        kit = doc["kit"]
        s3 = self.aws("s3", self.cfg["region"])
        where = "s3://%s/%s (version %s)" % (kit.get("bucket"), kit.get("key"), kit.get("version_id"))
        archive = os.path.join(work, "kit.tar.gz")
        h = hashlib.sha256()
        try:
            args = dict(Bucket=kit["bucket"], Key=kit["key"])
            if kit.get("version_id"):
                args["VersionId"] = kit["version_id"]
            body = s3.get_object(**args)["Body"]
            with open(archive, "wb") as f:
                for chunk in iter(lambda: body.read(1 << 20), b""):
                    h.update(chunk)
                    f.write(chunk)
        except Exception as e:
            raise BootFailure("kit_missing", "cannot read the boot kit %s: %s" % (where, e)) from e
        if h.hexdigest() != kit["sha256"]:
            raise BootFailure("kit_digest", "the boot kit %s has sha256 %s, the parameter says %s: nothing from it ran"
                              % (where, h.hexdigest(), kit["sha256"]))
        dest = os.path.join(self.paths.kits, kit["sha256"])
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        extract_kit(archive, dest)
        self.log("boot kit %s verified (sha256 %s), unpacked in %s" % (where, kit["sha256"][:16], dest))
        return dest

    def collections(self, kit_dir):
        """The AMI's collections must be the ones the kit's requirements pin (what the controller ran)."""
        import yaml  # ansible-core's dependency, in the kit's venv
        with open(os.path.join(kit_dir, "collections", "requirements.yml")) as f:
            wanted = (yaml.safe_load(f) or {}).get("collections") or []
        problems = []
        for c in wanted:
            ns, name = c["name"].split(".", 1)
            manifest = os.path.join(self.paths.collections, "ansible_collections", ns, name, "MANIFEST.json")
            try:
                with open(manifest) as f:
                    have = json.load(f)["collection_info"]["version"]
            except (OSError, ValueError, KeyError):
                have = None
            if have != str(c.get("version", have)):
                problems.append("%s %s (the AMI has %s)" % (c["name"], c.get("version"), have or "none"))
        if problems:
            raise BootFailure("collections", "the kit needs %s: bake an AMI with the controller's collections "
                                             "(packer/bake.yml)" % ", ".join(problems))

    def host_vars(self, doc, work):
        """This host's name and variables, by the inventory service's own naming (inventory-service host)."""
        # The SDK's own settings (AWS_ENDPOINT_URL and the rest) come from the environment, as for boto3 here.
        config = dict(doc["inventory"], cluster=self.cfg["cluster"], regions=[self.cfg["region"]])
        path = os.path.join(work, "inventory-service.json")
        with open(path, "w") as f:
            json.dump(config, f)
        java = doc["vars"].get("node_agent_java_binary") or "/usr/bin/java"
        rc, out, err = self.host.output([java, "-XX:TieredStopAtLevel=1", "-jar", self.paths.inventory_jar, "host",
                                         "--config", path, "--instance-id", self.instance_id])
        if rc != 0:
            raise BootFailure("host_vars", "inventory-service host exited %s: %s" % (rc, err.strip()[-1500:]))
        try:
            found = json.loads(out)
            name, hostvars = found["name"], found["hostvars"]
        except (ValueError, KeyError, TypeError) as e:
            raise BootFailure("host_vars", "inventory-service host printed no host: %s" % e) from e
        if not isinstance(name, str) or not _HOST_NAME.match(name) or not isinstance(hostvars, dict):
            raise BootFailure("host_vars", "inventory-service host named this host %r" % (name,))
        self.log("named %s by the inventory service's naming" % name)
        return name, hostvars

    def inventory(self, doc, name, hostvars):
        """This one host, in the groups site.yml's inventory puts a ready host of its pool, with the published
        variables as the teleport group's; every string from AWS and from the publisher stays data."""
        role, region = self.cfg["role"], group_safe(self.cfg["region"])
        host = dict(unsafe(hostvars), ansible_connection="local")
        groups = {
            "teleport": {"vars": unsafe(doc["vars"]), "children": {
                "teleport_" + role: {"children": {"teleport_%s_%s" % (role, region): {"hosts": {name: host}}}}}},
            "region_" + region: {"hosts": {name: {}}},
            "asg_" + group_safe(self.cfg["asg"]): {"hosts": {name: {}}},
        }
        if role == "proxy":
            # proxy-region.yml's play: region slot 1 (validate-inventory.yml groups the proxies so in site.yml).
            groups["teleport_rollout_proxy_1"] = {"hosts": {name: {}}}
        return {"all": {"vars": unsafe({"teleport_inventory_cluster": self.cfg["cluster"],
                                        "teleport_inventory_regions": [self.cfg["region"]]}),
                        "children": groups}}

    def installed_version(self, doc):
        v = doc["vars"]
        binary = v.get("teleport_binary") or os.path.join(v.get("teleport_install_dir") or "/usr/local/bin", "teleport")
        try:
            rc, out, _ = self.host.output([binary, "version"], timeout=60)
        except OSError:
            return ""
        m = _VERSION.search(out or "")
        return m.group(1) if rc == 0 and m else ""

    def release_overrides(self, doc):
        """Where the published release comes from on this host. A tarball named by a path is a file on the
        publishing controller: this host has it only when its AMI baked that release (the role's cache)."""
        release, version = doc["release"], doc["teleport_version"]
        installed = self.installed_version(doc)
        if installed != version:
            self.log("this AMI has Teleport %s; the published version is %s: the converge installs it"
                     % (installed or "(none)", version))
        src = release.get("teleport_tarball_src")
        if release.get("teleport_install_method", "tarball") != "tarball" or not src or re.match(r"^(https?|ftp)://", src):
            return {}
        if os.path.isfile(src):
            return {}
        cached = os.path.join(self.paths.tarball_cache, tarball_name(release.get("teleport_edition", "oss"), version))
        if os.path.isfile(cached):
            self.log("the published tarball %s is the controller's; using this AMI's copy %s (its sha256 is checked)"
                     % (src, cached))
            return {"teleport_tarball_src": cached}
        raise BootFailure("version", "Teleport %s cannot be installed here: the published teleport_tarball_src %s is a "
                                     "path on the publishing controller, and this AMI (Teleport %s) has no %s. Publish "
                                     "an https URL, or bake Teleport %s into the AMI"
                          % (version, src, installed or "none", cached, version))

    def converge(self, kit_dir, work, doc, secret, name, hostvars, overrides):
        inventory_path = os.path.join(work, "inventory.json")
        secrets_path = os.path.join(work, "secrets.json")
        extra = dict(secret["vars"])
        files = (secret.get("files") or {}).get("postgres_tls")
        if files:
            pg = os.path.join(work, "postgres-tls")
            os.mkdir(pg, 0o700)
            for fname, content in files.items():
                if fname not in ("ca.crt", "client.teleport.crt", "client.teleport.key"):
                    raise BootFailure("secret_invalid", "the secret holds an unexpected file %r" % fname)
                with open(os.open(os.path.join(pg, fname), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                    f.write(content)
            extra["teleport_postgres_tls_src_dir"] = pg
        extra.update(overrides)
        with open(os.open(inventory_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump(self.inventory(doc, name, hostvars), f)
        with open(os.open(secrets_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump(unsafe(extra), f)
        env = dict(os.environ)
        env.update({"ANSIBLE_CONFIG": os.path.join(kit_dir, "ansible.cfg"),
                    "ANSIBLE_COLLECTIONS_PATH": self.paths.collections,
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                    "ANSIBLE_LOCAL_TEMP": os.path.join(work, "ansible-local"),
                    "ANSIBLE_LOCALHOST_WARNING": "0", "HOME": env.get("HOME") or "/root",
                    "PATH": os.path.join(self.paths.venv, "bin") + os.pathsep + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")})
        cmd = [os.path.join(self.paths.venv, "bin", "ansible-playbook"), "-i", inventory_path,
               os.path.join(kit_dir, "playbooks", "boot.yml"), "-e", "@" + secrets_path]
        self.log("converging: ansible-playbook playbooks/boot.yml (the plays site.yml runs) on %s" % name)
        try:
            with Heartbeat(self.asg, self.cfg["launch_hook"], self.cfg["asg"], self.instance_id,
                           self.cfg["heartbeat_seconds"], self.log):
                rc, tail = self.host.run(cmd, env=env, cwd=kit_dir, timeout=self.converge_timeout, log=self.log)
        finally:
            for path in (secrets_path, os.path.join(work, "postgres-tls")):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.unlink(path)
        if rc is None:
            raise BootFailure("converge_timeout", "playbooks/boot.yml ran past %.0f s and was stopped" % self.converge_timeout)
        if rc != 0:
            failed = [line for line in tail if "FAILED" in line or "fatal:" in line or "ERROR" in line]
            raise BootFailure("converge", "playbooks/boot.yml exited %s: %s" % (rc, " / ".join((failed or tail)[-3:])))

    def _poll(self, what, probe):
        deadline = time.monotonic() + self.gate_timeout
        last = None
        while True:
            ok, last = probe()
            if ok:
                return last
            if time.monotonic() > deadline:
                raise BootFailure("gate", "%s within %.0f s: %s" % (what, self.gate_timeout, last))
            self.sleep(self.poll)  # between probes, bounded by the deadline

    def gates(self, doc):
        """What the converge's own gates proved, checked once more from outside Ansible before serving."""
        diag = _config_value(self.paths.teleport_config, "diag_addr")
        if not diag:
            raise BootFailure("gate", "%s has no diag_addr" % self.paths.teleport_config)
        base = "http://" + re.sub(r"^(0\.0\.0\.0|\[::\]|):", "127.0.0.1:", diag)

        def readyz():
            status, body = self.host.http_get(base + "/readyz")
            return status == 200, "GET %s/readyz: %s %s" % (base, status, (body or "")[:200])
        self._poll("Teleport was not ready", readyz)
        status, body = self.host.http_get(base + "/metrics")
        m = _BUILD_INFO.search(body or "") if status == 200 else None
        running = m.group(1) if m else None
        if running != doc["teleport_version"]:
            raise BootFailure("version", "Teleport runs %s, the published version is %s"
                              % (running or "(unknown: no teleport_build_info)", doc["teleport_version"]))
        if self.cfg["role"] == "proxy":
            listen = _config_value(self.paths.node_agent_config, "listen_addr")
            if not listen:
                raise BootFailure("gate", "%s has no listen_addr" % self.paths.node_agent_config)
            url = "http://" + re.sub(r"^(0\.0\.0\.0|\[::\]):", "127.0.0.1:", listen) + "/v1/tls/status"

            def tls():
                status, body = self.host.http_get(url)
                try:
                    fp = json.loads(body)["installed"]["fingerprint_sha256"] if status == 200 else ""
                except (ValueError, KeyError, TypeError):
                    fp = ""
                return bool(fp), "GET %s: %s, installed %s" % (url, status, fp or "nothing")
            self._poll("the node-agent had no HTTPS key pair installed", tls)
        self.log("gates passed: /readyz, Teleport %s%s" % (doc["teleport_version"],
                                                         ", the node-agent's TLS pair" if self.cfg["role"] == "proxy" else ""))

    def tag_self(self, key, value):
        """Best effort: the tag only informs the inventory; the hook's result is what Auto Scaling acts on."""
        try:
            self.aws("ec2", self.cfg["region"]).create_tags(Resources=[self.instance_id],
                                                            Tags=[{"Key": key, "Value": value}])
        except Exception as e:  # a missing permission must not turn a ready instance into an abandoned one
            self.log("could not tag %s %s=%s (the inventory will not show it): %s" % (self.instance_id, key, value, e))

    def complete(self, result):
        self.asg.complete_lifecycle_action(LifecycleHookName=self.cfg["launch_hook"], AutoScalingGroupName=self.cfg["asg"],
                                           LifecycleActionResult=result, InstanceId=self.instance_id)

    def run(self):
        work = tempfile.mkdtemp(prefix="teleport-ha-boot.", dir=self.paths.work_parent)
        try:
            self.identity()
            doc = self.configuration()
            secret = self.secret(doc)
            kit_dir = self.kit(doc, work)
            self.collections(kit_dir)
            name, hostvars = self.host_vars(doc, work)
            overrides = self.release_overrides(doc)
            self.converge(kit_dir, work, doc, secret, name, hostvars, overrides)
            self.gates(doc)
            os.makedirs(self.paths.state, mode=0o755, exist_ok=True)
            with open(self.paths.booted, "w") as f:
                json.dump({"instance_id": self.instance_id, "digest": doc["digest"], "teleport_version": doc["teleport_version"],
                           "teleport_service_name": doc["vars"].get("teleport_service_name") or "teleport",
                           "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f)
            self.tag_self(TAG_BOOT_DIGEST, doc["digest"])
            self.complete("CONTINUE")
            self.log.loud("CONTINUE: %s configured from %s (digest %s); in service once Auto Scaling registers it"
                          % (self.instance_id, self.cfg["parameter"], doc["digest"][:16]))
            if self.host.systemctl("start", "--no-block", "teleport-ha-lifecycle.service") != 0:
                self.log("could not start teleport-ha-lifecycle.service (the drain on termination); see its journal")
            return 0
        except Exception as e:  # every failure abandons: an instance that is not ready never serves
            reason, detail = (e.reason, e.detail) if isinstance(e, BootFailure) else ("error", repr(e))
            self.log.loud("ABANDON %s: %s" % (reason, detail))
            if self.instance_id and self.asg is not None:
                # Before the hook: once it is completed the instance may be gone before the tag lands.
                self.tag_self(TAG_BOOT_FAILURE, reason if _REASON.match(reason) else "error")
                try:
                    self.complete("ABANDON")
                except Exception as c:  # Auto Scaling abandons it anyway when the heartbeat times out
                    self.log("CompleteLifecycleAction ABANDON failed: %s; the hook's timeout abandons it" % c)
            return 1
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _config_value(path, key):
    """A top-level-or-nested scalar `key: value` of a config this host's roles rendered (YAML)."""
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^\s*%s:\s*['\"]?([^'\"\s#]+)" % re.escape(key), line)
                if m:
                    return m.group(1)
    except OSError:
        return None
    return None


# --- termination and liveness -------------------------------------------------------------------------

def read_booted(paths):
    try:
        with open(paths.booted) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def watch_termination(cfg, imds, paths, host, log, aws=aws_client, asg=None, interval=5.0, sleep=time.sleep):
    """Waits for Auto Scaling to start terminating this instance (IMDS target-lifecycle-state Terminated),
    then for its lifecycle action (Terminating:Wait), then drains: stops Teleport gracefully (the unit's
    KillSignal, SIGQUIT) and completes teleport-terminate CONTINUE, sending heartbeats meanwhile.

    Auto Scaling takes an instance of a group with target groups out of them first and waits their
    deregistration delay (LifecycleState Terminating) before its hook (lifecycle-hooks-overview.html, steps 4
    and 5): an instance seen Terminating has been drained already. One not seen so (no target group, or a
    phase shorter than the poll) waits drain_seconds itself, for the connections to finish."""
    instance_id = imds.instance_id()
    asg = asg or aws("autoscaling", cfg["region"])
    log("watching for the termination of %s (%s)" % (instance_id, cfg["asg"]))
    while True:
        try:
            state = imds.target_lifecycle_state()
        except BootFailure as e:
            log("IMDS: %s" % e.detail)
            state = None
        if state == "Terminated":
            break
        sleep(interval)  # IMDS is polled; nothing pushes the lifecycle state to the host
    # IMDS names where the instance is going, not that its hook is waiting: while it is Terminating no lifecycle
    # action exists to heartbeat or complete.
    deregistered = False
    while True:
        state = lifecycle_state(asg, cfg["asg"], instance_id, log)
        if state != "Terminating":
            break
        if not deregistered:
            log("Auto Scaling is taking this instance out of its target groups (Terminating): its hook follows")
        deregistered = True
        sleep(interval)
    booted = read_booted(paths)
    service = (booted or {}).get("teleport_service_name", "teleport")
    # An instance never in service (abandoned at boot) has nothing to drain.
    drain = cfg["drain_seconds"] if booted and not deregistered else 0
    log.loud("terminating (%s): %s, then stopping %s"
             % (state or "unknown", "draining for %d s" % drain if drain else
                "drained by its target groups' deregistration" if deregistered else "nothing to drain", service))
    with Heartbeat(asg, cfg["terminate_hook"], cfg["asg"], instance_id, cfg["terminate_heartbeat_seconds"], log):
        if drain:
            sleep(drain)  # the target groups' deregistration delay: connections finish meanwhile
        if host.systemctl("stop", service) != 0:
            log("systemctl stop %s failed; completing the hook anyway (the instance is going)" % service)
    asg.complete_lifecycle_action(LifecycleHookName=cfg["terminate_hook"], AutoScalingGroupName=cfg["asg"],
                                  LifecycleActionResult="CONTINUE", InstanceId=instance_id)
    log.loud("terminate hook completed CONTINUE")
    return 0


def lifecycle_state(asg, group, instance_id, log):
    """The instance's LifecycleState as its group reports it, or None when it cannot be read (the caller goes
    on: a hook it cannot see is one it cannot miss, and completing it says why if it is not there)."""
    try:
        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    except Exception as e:
        log("DescribeAutoScalingGroups failed: %s" % e)
        return None
    return next((i["LifecycleState"] for g in groups for i in g.get("Instances", []) if i["InstanceId"] == instance_id), None)


def report_unhealthy(cfg, imds, paths, host, log, aws=aws_client, asg=None, retry=60.0, sleep=time.sleep):
    """teleport.service failed past its restart limit (systemd OnFailure= runs this): Teleport is dead and
    not restartable here, so the instance asks to be replaced (SetInstanceHealth Unhealthy), but only while
    no other instance of its group is being replaced or launched: a cause every instance shares (auth or
    the backend down) must never replace the whole group at once (docs/boot.md)."""
    instance_id = imds.instance_id()
    asg = asg or aws("autoscaling", cfg["region"])
    service = (read_booted(paths) or {}).get("teleport_service_name", "teleport")
    while True:
        if host.systemctl("is-failed", "--quiet", service) != 0:
            log("%s is no longer failed; nothing to report" % service)
            return 0
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[cfg["asg"]])["AutoScalingGroups"]
        busy = [i["InstanceId"] + " " + i["LifecycleState"] + "/" + i["HealthStatus"]
                for g in group for i in g.get("Instances", [])
                if i["InstanceId"] != instance_id and (i["LifecycleState"] != "InService" or i["HealthStatus"] != "Healthy")]
        if busy:
            log("%s failed, but %s is already being replaced or launched in %s; waiting %.0f s"
                % (service, ", ".join(busy), cfg["asg"], retry))
            sleep(retry)  # one replacement at a time per group
            continue
        try:
            asg.set_instance_health(InstanceId=instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=True)
            break
        except Exception as e:
            # Auto Scaling refuses ShouldRespectGracePeriod inside the health check grace period ("The age of
            # the instance (N seconds) is less than the configured grace period of M seconds"): the report is
            # kept and sent again once the grace period is over, never dropped.
            if "grace period" not in str(e):
                raise
            log("%s failed, but %s is inside its health check grace period: reporting again in %.0f s"
                % (service, instance_id, retry))
            sleep(retry)
    log.loud("%s failed past its restart limit: reported %s Unhealthy, Auto Scaling replaces it" % (service, instance_id))
    return 0


def main(argv=None, paths=None, host=None, imds=None):
    parser = argparse.ArgumentParser(prog="teleport-ha-boot", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="boot", choices=["boot", "watch-termination", "report-unhealthy"])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    paths = paths or Paths()
    imds_patience()
    log = Log(os.path.join(paths.log_dir, args.command + ".log"), paths.console)
    imds = imds or Imds()
    host = host or Host()
    try:
        cfg = load_boot_config(args.config)
    except BootFailure as e:
        # Without boot.json there is no group or hook to complete: Auto Scaling abandons at the hook's timeout.
        log.loud("ABANDON %s: %s" % (e.reason, e.detail))
        return 1
    if args.command == "boot":
        return Boot(cfg, imds, paths, host, log).run()
    if args.command == "watch-termination":
        return watch_termination(cfg, imds, paths, host, log)
    return report_unhealthy(cfg, imds, paths, host, log)


if __name__ == "__main__":
    sys.exit(main())
