#!/usr/bin/env python3
"""Ansible and AWX dynamic inventory for the Teleport auth and proxy fleet.

A thin client of inventory-service (Python 3 standard library only, so it runs in any AWX
execution environment). It implements Ansible's script inventory protocol: --list prints the whole
inventory with _meta.hostvars, so Ansible never calls --host.

Environment:
  TELEPORT_INVENTORY_URL         base URL of `inventory-service serve`, e.g. http://10.0.0.5:8790
  TELEPORT_INVENTORY_TOKEN_FILE  file holding the bearer token (or TELEPORT_INVENTORY_TOKEN, the token)
  TELEPORT_INVENTORY_CA_FILE     CA bundle for an https URL (default: the system bundle)
  TELEPORT_INVENTORY_TIMEOUT     seconds to wait for the service (default 30)
Without TELEPORT_INVENTORY_URL the script runs the service's `list` mode itself, which needs Java:
  TELEPORT_INVENTORY_CONFIG      inventory-service config file (default: teleport-inventory.yml here)
  TELEPORT_INVENTORY_JAR         the jar (default: inventory-service/target/inventory-service.jar in this repo)
  TELEPORT_INVENTORY_JAVA        the java binary (default: $JAVA_HOME/bin/java, else java on PATH)

On success only the JSON is written (stdout) and stderr stays empty; on failure nothing is written to
stdout, the reason goes to stderr and the exit code is 1.
"""
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

PROG = "teleport_inventory.py"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


class InventoryError(Exception):
    pass


def _token():
    path = os.environ.get("TELEPORT_INVENTORY_TOKEN_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            raise InventoryError(f"TELEPORT_INVENTORY_TOKEN_FILE: cannot read {path}: {e.strerror}") from None
        if not token:
            raise InventoryError(f"TELEPORT_INVENTORY_TOKEN_FILE: {path} is empty")
        return token
    return os.environ.get("TELEPORT_INVENTORY_TOKEN") or None


def _timeout():
    raw = os.environ.get("TELEPORT_INVENTORY_TIMEOUT", "30")
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise InventoryError(f"TELEPORT_INVENTORY_TIMEOUT: '{raw}' must be a positive number of seconds")
    return value


def fetch(base_url, path):
    parsed = urllib.parse.urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InventoryError(f"TELEPORT_INVENTORY_URL: '{base_url}' must be an http(s) URL such as http://10.0.0.5:8790")
    url = base_url.rstrip("/") + path
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    token = _token()
    if token:
        request.add_header("Authorization", "Bearer " + token)
    context = None
    if parsed.scheme == "https":
        context = ssl.create_default_context(cafile=os.environ.get("TELEPORT_INVENTORY_CA_FILE") or None)
    try:
        with urllib.request.urlopen(request, timeout=_timeout(), context=context) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        hint = " (check TELEPORT_INVENTORY_TOKEN_FILE)" if e.code == 401 else ""
        raise InventoryError(f"{url}: HTTP {e.code}: {detail}{hint}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise InventoryError(f"{url}: cannot reach inventory-service: {reason}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise InventoryError(f"{url}: the response is not JSON") from None


def jvm_options(java, jar):
    """Options for a short-lived JVM: a small, fast-starting heap, and a class-data-sharing archive
    (AppCDS) cached per jar and JVM, which halves start-up. The first run writes the archive.
    Returns the options and the path the JVM writes the archive to (None when not writing)."""
    # The JVM's own log defaults to stdout; only the inventory may go there.
    options = ["-Xlog:disable", "-Xlog:all=warning:stderr", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        st = os.stat(jar)
        jvm = os.path.realpath(java)
        jvm_id = hashlib.sha256(f"{jvm}:{os.stat(jvm).st_mtime_ns}".encode()).hexdigest()[:12]
        directory = os.path.join(cache, "teleport-inventory")
        archive = os.path.join(directory, f"inventory-service-{st.st_size}-{int(st.st_mtime)}-{jvm_id}.jsa")
        if os.path.isfile(archive):
            return options + ["-XX:SharedArchiveFile=" + archive], None
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return options + [f"-XX:ArchiveClassesAtExit={archive}.{os.getpid()}.tmp"], archive
    except OSError:
        return options, None  # no writable cache: run without the archive


def run_local():
    config = os.environ.get("TELEPORT_INVENTORY_CONFIG") or os.path.join(HERE, "teleport-inventory.yml")
    if not os.path.isfile(config):
        raise InventoryError(
            "set TELEPORT_INVENTORY_URL to a running inventory-service, or TELEPORT_INVENTORY_CONFIG to its "
            f"config file so this script can run it itself ({config} does not exist)")
    jar = os.environ.get("TELEPORT_INVENTORY_JAR") or os.path.join(REPO, "inventory-service", "target", "inventory-service.jar")
    if not os.path.isfile(jar):
        raise InventoryError(f"TELEPORT_INVENTORY_JAR: {jar} does not exist; build it with `mvn -B package` in {REPO}")
    java = os.environ.get("TELEPORT_INVENTORY_JAVA")
    if not java and os.environ.get("JAVA_HOME"):
        java = os.path.join(os.environ["JAVA_HOME"], "bin", "java")
    java = java or shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise InventoryError("no Java found for local mode: install a JRE >= 17, set JAVA_HOME or "
                             "TELEPORT_INVENTORY_JAVA, or set TELEPORT_INVENTORY_URL")
    options, archive = jvm_options(java, jar)
    proc = subprocess.run([java] + options + ["-jar", jar, "list", "--config", config],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False)
    if archive:
        # The JVM has exited, so the archive it wrote at exit is complete: publish it atomically.
        written = f"{archive}.{os.getpid()}.tmp"
        try:
            if proc.returncode == 0 and os.path.getsize(written) > 0:
                os.replace(written, archive)
            else:
                os.unlink(written)
        except OSError:
            pass
    if proc.returncode != 0:
        raise InventoryError(proc.stderr.decode("utf-8", "replace").strip() or f"inventory-service exited {proc.returncode}")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise InventoryError("inventory-service list printed something that is not JSON") from None


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        base = os.environ.get("TELEPORT_INVENTORY_URL")
        inventory = fetch(base, "/v1/inventory") if base else run_local()
    elif len(argv) == 3 and argv[1] == "--host":
        base = os.environ.get("TELEPORT_INVENTORY_URL")
        if base:
            inventory = fetch(base, "/v1/hosts/" + urllib.parse.quote(argv[2], safe=""))
        else:
            inventory = run_local().get("_meta", {}).get("hostvars", {}).get(argv[2], {})
    else:
        raise InventoryError("usage: teleport_inventory.py --list | --host NAME")
    json.dump(inventory, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except InventoryError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        sys.exit(1)
