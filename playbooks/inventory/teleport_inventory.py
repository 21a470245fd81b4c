#!/usr/bin/env python3
"""Ansible and AWX dynamic inventory for the Teleport auth and proxy fleet.

A thin client of inventory-service (Python 3.9+ standard library only, so it runs in any AWX
execution environment). It implements Ansible's script inventory protocol: --list prints the whole
inventory with _meta.hostvars, so Ansible never calls --host.

Environment:
  TELEPORT_INVENTORY_URL         base URL of `inventory-service serve`, e.g. https://10.0.0.5:8790
  TELEPORT_INVENTORY_TOKEN_FILE  file holding the bearer token (or TELEPORT_INVENTORY_TOKEN, the token)
  TELEPORT_INVENTORY_CA_FILE     CA bundle for an https URL (default: the system bundle)
  TELEPORT_INVENTORY_TIMEOUT     seconds for the whole request, connect to last byte (default 30)
  TELEPORT_INVENTORY_MAX_BYTES   largest answer accepted, in bytes (default 67108864, 64 MiB)
  TELEPORT_INVENTORY_ALLOW_PLAINTEXT  1 to send the token over plain http to a host other than this
                                 machine (trusted networks only)
Without TELEPORT_INVENTORY_URL the script runs the service's `list` mode itself, which needs Java:
  TELEPORT_INVENTORY_CONFIG      inventory-service config file (default: teleport-inventory.yml here)
  TELEPORT_INVENTORY_JAR         the jar (default: inventory-service/target/inventory-service.jar in this repo)
  TELEPORT_INVENTORY_JAVA        the java binary (default: $JAVA_HOME/bin/java, else java on PATH)

On success only the JSON is written (stdout) and stderr stays empty; on failure nothing is written to
stdout, the reason goes to stderr and the exit code is 1.
"""
import hashlib
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

PROG = "teleport_inventory.py"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_TIMEOUT = 86400
ERROR_BODY_BYTES = 64 * 1024
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]+\Z")


class InventoryError(Exception):
    pass


def _printable(text, keep_newlines=False):
    """text with control characters escaped, so that nothing received can steer a terminal or forge log lines."""
    def escape(m):
        c = m.group(0)
        if c == "\n" and keep_newlines:
            return c
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, f"\\x{ord(c):02x}")
    return CONTROL_CHARACTERS.sub(escape, text)


def _token():
    path = os.environ.get("TELEPORT_INVENTORY_TOKEN_FILE")
    if path:
        source = "TELEPORT_INVENTORY_TOKEN_FILE"
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)  # of the file read, not of what the path names later
                token = None if mode & stat.S_IWOTH else f.read().strip()
        except OSError as e:
            raise InventoryError(f"{source}: cannot read {path}: {e.strerror}") from None
        if token is None:
            # Anyone could swap the token, so whatever it holds is not the operator's.
            raise InventoryError(f"{source}: {path} is writable by every user (mode {mode:04o}): run chmod 600 {path}")
        if not token:
            raise InventoryError(f"{source}: {path} is empty")
    else:
        source = "TELEPORT_INVENTORY_TOKEN"
        token = os.environ.get(source) or None
    if token and not TOKEN_CHARACTERS.match(token):
        # Never shown: it is a secret, and http.client's own error would print it.
        raise InventoryError(f"{source}: the token holds a space, a line break or another character a bearer token "
                             "cannot have; write only the token, on one line")
    return token


def _timeout():
    raw = os.environ.get("TELEPORT_INVENTORY_TIMEOUT", "30")
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 < value <= MAX_TIMEOUT:  # also refuses nan
        raise InventoryError(f"TELEPORT_INVENTORY_TIMEOUT: '{raw}' must be a positive number of seconds, at most {MAX_TIMEOUT}")
    return value


def _max_bytes():
    raw = os.environ.get("TELEPORT_INVENTORY_MAX_BYTES")
    if raw is None:
        return DEFAULT_MAX_BYTES
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) == 0:
        raise InventoryError(f"TELEPORT_INVENTORY_MAX_BYTES: '{raw}' must be a positive whole number of bytes "
                             f"(default {DEFAULT_MAX_BYTES})")
    return int(raw)


def _allow_plaintext():
    raw = os.environ.get("TELEPORT_INVENTORY_ALLOW_PLAINTEXT", "")
    if raw not in ("", "0", "1"):
        raise InventoryError(f"TELEPORT_INVENTORY_ALLOW_PLAINTEXT: '{raw}' must be 1 (or unset)")
    return raw == "1"


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost: wherever it resolves to, it may be off this machine


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """inventory-service never redirects, and urllib would carry the Authorization header to
    wherever a Location points: a redirect becomes an HTTPError, refused below."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _within(deadline, message, work):
    """work() if it finishes by the deadline, else InventoryError(message). Socket timeouts bound
    each read only, and name resolution not at all: this bounds the whole request."""
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=run, name="teleport-inventory-request", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        raise InventoryError(message)  # the daemon worker ends with the process
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _http_error(e, url):
    if 300 <= e.code < 400:
        location = e.headers.get("Location")
        target = _printable(urllib.parse.urljoin(url, location))[:300] if location else "nowhere"
        return InventoryError(f"{url}: HTTP {e.code} redirect to {target} refused: inventory-service never redirects, "
                              "and following would send the token there; set TELEPORT_INVENTORY_URL to the service's own address")
    try:
        detail = e.read(ERROR_BODY_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError):
        detail = ""
    try:
        detail = str(json.loads(detail).get("error", detail))
    except (ValueError, AttributeError):
        pass
    detail = _printable(detail.strip())
    detail = detail if len(detail) <= 500 else detail[:500] + "...(cut)"
    hint = " (check TELEPORT_INVENTORY_TOKEN_FILE)" if e.code == 401 else ""
    return InventoryError(f"{url}: HTTP {e.code}: {detail}{hint}")


def _read(response, url, deadline, timeout_message, max_bytes):
    too_large = f"{url}: the answer is larger than {max_bytes} bytes (TELEPORT_INVENTORY_MAX_BYTES)"
    advice = "raise the limit if the inventory really is that large"
    announced = (response.headers.get("Content-Length") or "").strip()
    if announced.isdigit() and int(announced) > max_bytes:
        raise InventoryError(f"{too_large}: it announces {int(announced)}; {advice}")
    body = bytearray()
    while True:
        if time.monotonic() >= deadline:
            raise InventoryError(timeout_message)
        chunk = response.read1(64 * 1024)  # returns what one read brings, so the deadline is checked often
        if not chunk:
            return body
        body += chunk
        if len(body) > max_bytes:
            raise InventoryError(f"{too_large}; {advice}")


def _parse(body, source):
    try:
        return json.loads(body)
    except ValueError:
        raise InventoryError(f"{source}: the response is not JSON") from None


def fetch(base_url, path):
    parsed = urllib.parse.urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InventoryError(f"TELEPORT_INVENTORY_URL: '{base_url}' must be an http(s) URL such as https://10.0.0.5:8790")
    url = base_url.rstrip("/") + path
    timeout, max_bytes, token, allow_plaintext = _timeout(), _max_bytes(), _token(), _allow_plaintext()
    loopback = _is_loopback(parsed.hostname)
    if token and parsed.scheme == "http" and not loopback and not allow_plaintext:
        raise InventoryError(
            f"TELEPORT_INVENTORY_URL: '{base_url}' is plain http to a host other than this machine, so the token would "
            "cross the network readable: use an https URL (TELEPORT_INVENTORY_CA_FILE names a private CA), or, on a "
            "trusted network only, set TELEPORT_INVENTORY_ALLOW_PLAINTEXT=1")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", "Bearer " + token)
    handlers = [_NoRedirects()]
    if loopback:
        handlers.append(urllib.request.ProxyHandler({}))  # a proxy cannot reach this machine's loopback, but would see the token
    if parsed.scheme == "https":
        ca_file = os.environ.get("TELEPORT_INVENTORY_CA_FILE") or None
        try:
            context = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as e:
            raise InventoryError(f"TELEPORT_INVENTORY_CA_FILE: cannot use {ca_file}: {getattr(e, 'strerror', None) or e}") from None
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    deadline = time.monotonic() + timeout
    late = f"{url}: no complete answer within {timeout:g} s (TELEPORT_INVENTORY_TIMEOUT)"

    def get():
        try:
            with opener.open(request, timeout=timeout) as response:
                return _read(response, url, deadline, late, max_bytes)
        except urllib.error.HTTPError as e:
            with e:
                raise _http_error(e, url) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, socket.timeout) or time.monotonic() >= deadline:
                raise InventoryError(late) from None
            raise InventoryError(f"{url}: cannot reach inventory-service: {reason}") from None

    return _parse(_within(deadline, late, get), url)


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
        print(f"{PROG}: {_printable(str(err), keep_newlines=True)}", file=sys.stderr)
        sys.exit(1)
