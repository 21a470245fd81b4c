"""teleport-ha-boot's logic against moto (the published parameter, secret and kit, written with the
publisher's own functions), a fake IMDSv2 and the recording Auto Scaling stub (conftest.py says why a stub):
the launch hook is completed CONTINUE once everything is verified and the gates pass, and ABANDON with a named
reason on the console otherwise; the termination drain and the liveness report."""
import itertools
import json
from pathlib import Path

import pytest
from conftest import ACCOUNT, ASG, CLUSTER, INSTANCE, REGION, ROOT, SECRETS, FakeHost, RecordingAutoScaling, boot, published

_n = itertools.count()


class Pool:
    """One proxy pool's published configuration in moto, and an instance of it."""

    def __init__(self, moto, tmp, monkeypatch, imds):
        n = next(_n)
        self.moto, self.tmp = moto, tmp
        self.cluster, self.short = "c%d.%s" % (n, CLUSTER), "c%d" % n
        self.parameter = "/teleport/%s/config/proxy" % self.cluster
        self.secret = "teleport/%s/proxy" % self.cluster
        self.bucket = published.bucket_name(self.short, ACCOUNT, REGION)
        self.paths = boot.Paths(str(tmp / "host"))
        for d in (self.paths.state, self.paths.kits, tmp / "host" / "run", tmp / "host" / "dev"):
            Path(d).mkdir(parents=True, exist_ok=True)
        self.collections()
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        self.asg = RecordingAutoScaling()
        # One moto server for the module and one instance id: each test starts with no tags on it.
        ec2 = moto.client("ec2", REGION)
        old = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [INSTANCE]}])["Tags"]
        if old:
            ec2.delete_tags(Resources=[INSTANCE], Tags=[{"Key": t["Key"]} for t in old])
        self.cfg = {"version": 1, "cluster": self.cluster, "role": "proxy", "region": REGION, "asg": ASG,
                    "launch_hook": "teleport-launch", "terminate_hook": "teleport-terminate", "parameter": self.parameter,
                    "secret": self.secret, "bucket": self.bucket, "kit_key": published.KIT_KEY, "heartbeat_seconds": 1,
                    "terminate_heartbeat_seconds": 1, "drain_seconds": 300}
        self.config_path = tmp / "boot.json"
        self.config_path.write_text(json.dumps(self.cfg))

    def collections(self):
        """The AMI's collections, at the versions collections/requirements.yml pins (what packer/bake.yml copies)."""
        import yaml
        for c in yaml.safe_load((ROOT / "collections/requirements.yml").read_text())["collections"]:
            ns, name = c["name"].split(".")
            d = Path(self.paths.collections) / "ansible_collections" / ns / name
            d.mkdir(parents=True, exist_ok=True)
            (d / "MANIFEST.json").write_text(json.dumps({"collection_info": {"version": c["version"]}}))

    def publish(self, secret=True, kit_sha256=None, release=None, version="17.7.1"):
        s3 = self.moto.client("s3", REGION)
        s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        kit_path = self.tmp / "kit.tar.gz"
        kit = published.build_kit(str(ROOT), ["ansible.cfg", "collections/requirements.yml", "playbooks/boot.yml"], [], {},
                                  str(kit_path))
        put = s3.put_object(Bucket=self.bucket, Key=published.KIT_KEY, Body=kit_path.read_bytes())
        secret_doc = published.secret_document(self.cluster, "proxy", SECRETS, {})
        if secret:
            self.moto.client("secretsmanager", REGION).create_secret(
                Name=self.secret, SecretString=published.canonical(secret_doc).decode())
        rel = {"teleport_version": version, "teleport_edition": "oss", "teleport_install_method": "tarball",
               "teleport_tarball_src": None, "teleport_tarball_sha256": "a" * 64, "teleport_package_channel": None}
        rel.update(release or {})
        doc = published.parameter_document(
            self.cluster, "proxy", REGION, rel, {"teleport_public_addr": ["teleport.example.com:443"], "teleport_version": version},
            {"host_name_template": "{instance_id}"},
            {"bucket": self.bucket, "key": published.KIT_KEY, "version_id": put["VersionId"], "sha256": kit_sha256 or kit["sha256"],
             "content_sha256": kit["content_sha256"], "size": kit["size"]},
            {"name": self.secret, "sha256": published.digest(secret_doc)})
        self.moto.client("ssm", REGION).put_parameter(Name=self.parameter, Type="String", Value=published.canonical(doc).decode())
        return doc

    def boot(self, host, **kw):
        log = boot.Log(str(self.tmp / "boot.log"), str(self.tmp / "console"))
        b = boot.Boot(boot.load_boot_config(str(self.config_path)), boot.Imds(), self.paths, host, log,
                      aws=lambda service, region: self.moto.client(service, region), asg=self.asg,
                      gate_timeout=5, poll=0.01, **kw)
        return b.run()

    def console(self):
        path = self.tmp / "console"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def pool(moto, tmp_path, monkeypatch, imds):
    return Pool(moto, tmp_path, monkeypatch, imds)


def own_tags(pool):
    """The tags the instance wrote on itself (what the inventory service reads)."""
    tags = pool.moto.client("ec2", REGION).describe_tags(
        Filters=[{"Name": "resource-id", "Values": [INSTANCE]}])["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def abandoned_with(pool, reason):
    (completion,) = pool.asg.completions()
    assert completion == {"LifecycleHookName": "teleport-launch", "AutoScalingGroupName": ASG,
                          "LifecycleActionResult": "ABANDON", "InstanceId": INSTANCE}
    assert "ABANDON %s:" % reason in pool.console(), pool.console()
    # The reason class is on the instance for the inventory's boot-failure alert; no digest: it converged nothing.
    assert own_tags(pool) == {boot.TAG_BOOT_FAILURE: reason}
    return pool.console()


def test_a_verified_configuration_that_passes_its_gates_completes_the_hook_continue(pool, imds):
    doc = pool.publish()
    host = FakeHost(pool.paths, wait_for_heartbeat=pool.asg.heartbeat)
    assert pool.boot(host) == 0
    assert pool.asg.completions() == [{"LifecycleHookName": "teleport-launch", "AutoScalingGroupName": ASG,
                                       "LifecycleActionResult": "CONTINUE", "InstanceId": INSTANCE}]
    # Heartbeats while the converge ran, and the completion last.
    assert "RecordLifecycleActionHeartbeat" in pool.asg.names() and pool.asg.names()[-1] == "CompleteLifecycleAction"
    assert ("start", "--no-block", "teleport-ha-lifecycle.service") in host.systemctls
    assert json.loads(Path(pool.paths.booted).read_text())["teleport_version"] == "17.7.1"
    assert "CONTINUE" in pool.console()
    # The configuration it converged with is on the instance, for the inventory and Prometheus.
    assert own_tags(pool) == {boot.TAG_BOOT_DIGEST: doc["digest"]}
    # The instance asked IMDSv2 (with its token) at the endpoint AWS_EC2_METADATA_SERVICE_ENDPOINT names.
    assert {"instance-id", "placement/region"} <= set(imds.gets)


def test_the_converge_gets_the_published_variables_as_data_and_the_secrets_only_in_a_private_file(pool):
    pool.publish()
    host = FakeHost(pool.paths)
    assert pool.boot(host) == 0
    seen = host.seen
    cmd = next(c for c in host.commands if c[0].endswith("ansible-playbook"))
    assert cmd[3].endswith("/playbooks/boot.yml")
    assert seen["inventory_mode"] == 0o600 and seen["secrets_mode"] == 0o600
    # The secrets are in the extra vars file alone, which is gone once the converge ended.
    for value in SECRETS.values():
        assert value not in seen["inventory_text"]
    assert seen["secrets"]["node_agent_tls_key_pem"] == {"__ansible_unsafe": SECRETS["node_agent_tls_key_pem"]}
    assert not seen["secrets_path"].exists()
    # The host in the groups site.yml's inventory gives a ready proxy, every string unsafe (never templated).
    inv = seen["inventory"]["all"]["children"]
    host_vars = inv["teleport"]["children"]["teleport_proxy"]["children"]["teleport_proxy_us_west_2"]["hosts"][INSTANCE]
    assert host_vars["ansible_connection"] == "local"
    assert host_vars["ec2_tags"]["Evil"] == {"__ansible_unsafe": "{{ lookup('pipe', 'id') }}"}
    assert inv["teleport"]["vars"]["teleport_public_addr"] == [{"__ansible_unsafe": "teleport.example.com:443"}]
    assert INSTANCE in inv["teleport_rollout_proxy_1"]["hosts"] and INSTANCE in inv["asg_" + ASG.replace("-", "_")]["hosts"]
    # The instance names itself with the published naming keys, in its own region only.
    assert seen["inventory_config"] == {"host_name_template": "{instance_id}", "cluster": pool.cluster, "regions": [REGION]}
    # ansible-playbook runs from the verified kit, with the AMI's collections.
    assert Path(seen["cwd"], "playbooks", "boot.yml").is_file()
    assert seen["env"]["ANSIBLE_COLLECTIONS_PATH"] == pool.paths.collections


def test_a_missing_secret_abandons_before_anything_runs(pool):
    pool.publish(secret=False)
    host = FakeHost(pool.paths)
    assert pool.boot(host) == 1
    console = abandoned_with(pool, "secret_missing")
    assert pool.secret in console
    assert not [c for c in host.commands if c[0].endswith("ansible-playbook")]


def test_a_kit_whose_digest_differs_abandons_and_nothing_from_it_runs(pool):
    pool.publish(kit_sha256="0" * 64)
    host = FakeHost(pool.paths)
    assert pool.boot(host) == 1
    assert "the parameter says " + "0" * 64 in abandoned_with(pool, "kit_digest")
    assert host.commands == [] and list(Path(pool.paths.kits).iterdir()) == []


def test_a_failed_converge_abandons_with_its_failure(pool):
    pool.publish()
    host = FakeHost(pool.paths, converge_rc=2)
    assert pool.boot(host) == 1
    assert "the converge broke" in abandoned_with(pool, "converge")
    assert not host.seen["secrets_path"].exists()


def test_a_release_that_cannot_be_brought_here_abandons_naming_the_version(pool):
    # Published from a controller-local tarball; this AMI has another release and no copy of the published one.
    pool.publish(version="17.8.0", release={"teleport_tarball_src": "/home/ops/teleport-v17.8.0-linux-amd64-bin.tar.gz"})
    host = FakeHost(pool.paths, installed="17.7.1")
    assert pool.boot(host) == 1
    console = abandoned_with(pool, "version")
    assert "Teleport 17.8.0 cannot be installed here" in console and "Teleport 17.7.1" in console
    assert not [c for c in host.commands if c[0].endswith("ansible-playbook")]


def test_an_ami_copy_of_the_published_release_stands_in_for_the_controllers_tarball(pool):
    pool.publish(version="17.8.0", release={"teleport_tarball_src": "/home/ops/teleport-v17.8.0-linux-amd64-bin.tar.gz"})
    cached = Path(pool.paths.tarball_cache) / boot.tarball_name("oss", "17.8.0")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tarball")
    host = FakeHost(pool.paths, installed="17.7.1", running="17.8.0")
    assert pool.boot(host) == 0
    assert host.seen["secrets"]["teleport_tarball_src"] == {"__ansible_unsafe": str(cached)}


def test_teleport_running_another_version_than_the_published_one_abandons(pool):
    pool.publish()
    host = FakeHost(pool.paths, running="17.6.0")
    assert pool.boot(host) == 1
    assert "Teleport runs 17.6.0, the published version is 17.7.1" in abandoned_with(pool, "version")


def test_a_parameter_changed_after_publishing_is_refused(pool):
    doc = pool.publish()
    doc["vars"]["teleport_auth_server"] = "evil.example.com:3025"
    pool.moto.client("ssm", REGION).put_parameter(Name=pool.parameter, Type="String", Overwrite=True, Value=json.dumps(doc))
    assert pool.boot(FakeHost(pool.paths)) == 1
    assert "its digest does not match its content" in abandoned_with(pool, "config_invalid")


def test_a_boot_json_that_is_not_aws_pools_ymls_stops_before_any_aws_call(pool, tmp_path):
    bad = dict(pool.cfg, role="node")
    pool.config_path.write_text(json.dumps(bad))
    assert boot.main(["boot", "--config", str(pool.config_path)], paths=pool.paths, host=FakeHost(pool.paths)) == 1
    assert "ABANDON boot_config" in Path(pool.paths.console).read_text()
    assert pool.asg.calls == []


def test_termination_waits_the_deregistration_delay_stops_teleport_and_completes_continue(pool, imds):
    Path(pool.paths.booted).write_text(json.dumps({"teleport_service_name": "teleport"}))
    imds.states = ["InService", "InService", "Terminated"]
    host = FakeHost(pool.paths)
    slept = []

    def sleep(seconds):  # the drain's wait: let a heartbeat pass first, and record the delay
        slept.append(seconds)
        if seconds == 300:
            assert pool.asg.heartbeat.wait(10)
    log = boot.Log(None, None)
    assert boot.watch_termination(pool.cfg, boot.Imds(), pool.paths, host, log, asg=pool.asg, interval=0.01, sleep=sleep) == 0
    assert slept.count(0.01) == 2 and slept[-1] == 300
    assert ("stop", "teleport") in host.systemctls
    assert pool.asg.completions() == [{"LifecycleHookName": "teleport-terminate", "AutoScalingGroupName": ASG,
                                       "LifecycleActionResult": "CONTINUE", "InstanceId": INSTANCE}]
    beats = [c[1] for c in pool.asg.calls if c[0] == "RecordLifecycleActionHeartbeat"]
    assert beats and beats[0]["LifecycleHookName"] == "teleport-terminate"


def test_termination_waits_out_the_deregistration_before_touching_the_hook(pool, imds):
    """With target groups, IMDS says Terminated while Auto Scaling still deregisters the instance
    (LifecycleState Terminating): no lifecycle action exists yet, so no heartbeat or completion may be sent
    before the group reports Terminating:Wait."""
    Path(pool.paths.booted).write_text(json.dumps({"teleport_service_name": "teleport"}))
    imds.states = ["Terminated"]
    pool.asg.instances[0]["LifecycleState"] = "Terminating"
    host = FakeHost(pool.paths)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if seconds == 0.01 and slept.count(0.01) == 3:  # the deregistration delay ends
            assert [c for c in pool.asg.names() if c != "DescribeAutoScalingGroups"] == [], "nothing sent while deregistering"
            pool.asg.instances[0]["LifecycleState"] = "Terminating:Wait"
    assert boot.watch_termination(pool.cfg, boot.Imds(), pool.paths, host, boot.Log(), asg=pool.asg,
                                  interval=0.01, sleep=sleep) == 0
    assert slept.count(0.01) == 3 and pool.asg.names().count("DescribeAutoScalingGroups") == 4
    assert pool.asg.completions()[0]["LifecycleActionResult"] == "CONTINUE" and ("stop", "teleport") in host.systemctls
    assert 300 not in slept, "drained by the deregistration already: no second wait of drain_seconds"


def test_an_instance_abandoned_at_boot_is_not_drained(pool, imds):
    imds.states = ["Terminated"]
    slept = []
    host = FakeHost(pool.paths)
    assert boot.watch_termination(pool.cfg, boot.Imds(), pool.paths, host, boot.Log(), asg=pool.asg,
                                  interval=0.01, sleep=slept.append) == 0
    assert slept == [] and pool.asg.completions()[0]["LifecycleActionResult"] == "CONTINUE"


def test_a_dead_teleport_reports_unhealthy_once_no_other_instance_is_being_replaced(pool):
    host = FakeHost(pool.paths)
    host.failed_unit = True
    pool.asg.instances.append({"InstanceId": "i-0fedcba9876543210", "LifecycleState": "Pending", "HealthStatus": "Healthy"})
    waits = []

    def sleep(seconds):  # while it waits, the other instance comes into service
        waits.append(seconds)
        pool.asg.instances[1]["LifecycleState"] = "InService"
    assert boot.report_unhealthy(pool.cfg, boot.Imds(), pool.paths, host, boot.Log(), asg=pool.asg, retry=60, sleep=sleep) == 0
    assert waits == [60]
    assert pool.asg.calls[-1] == ("SetInstanceHealth", {"InstanceId": INSTANCE, "HealthStatus": "Unhealthy",
                                                        "ShouldRespectGracePeriod": True})


def test_a_teleport_that_recovered_is_not_reported(pool):
    host = FakeHost(pool.paths)
    assert boot.report_unhealthy(pool.cfg, boot.Imds(), pool.paths, host, boot.Log(), asg=pool.asg) == 0
    assert "SetInstanceHealth" not in pool.asg.names()


def test_the_kit_refuses_members_outside_its_directory(tmp_path):
    import io
    import tarfile
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(boot.BootFailure, match="outside its directory"):
        boot.extract_kit(str(evil), str(tmp_path / "kit"))
    assert not (tmp_path / "escape").exists()


def test_a_secret_changed_by_hand_after_publishing_is_refused(pool):
    pool.publish()
    pool.moto.client("secretsmanager", REGION).put_secret_value(
        SecretId=pool.secret, SecretString=json.dumps({"version": 1, "cluster": pool.cluster, "role": "proxy", "vars": {}}))
    assert pool.boot(FakeHost(pool.paths)) == 1
    assert "publish again" in abandoned_with(pool, "secret_digest")


def test_credentials_from_imds_wait_longer_than_botocores_single_one_second_try():
    # A proxy booting under load got NoCredentialsError two seconds in and could not even complete ABANDON.
    env = {"AWS_METADATA_SERVICE_NUM_ATTEMPTS": "2"}
    boot.imds_patience(env)
    assert env == {"AWS_METADATA_SERVICE_TIMEOUT": "5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "2"}
    import botocore.session
    session = botocore.session.Session()
    for key in boot.IMDS_PATIENCE:
        # The names botocore reads (its config chain), so the setting is not a no-op.
        name = {"AWS_METADATA_SERVICE_TIMEOUT": "metadata_service_timeout",
                "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "metadata_service_num_attempts"}[key]
        assert session.session_var_map[name][1] == key
