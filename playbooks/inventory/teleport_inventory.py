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
--known-hosts HOST answers OpenSSH's KnownHostsCommand with HOST's SSH host keys, which the service
reads from the instance's console output; --list sets ansible_ssh_common_args (in all's vars) so that
Ansible's SSH checks every host against exactly those keys.
Without TELEPORT_INVENTORY_URL the script runs the service's `list` mode itself, which needs Java:
  TELEPORT_INVENTORY_CONFIG      inventory-service config file (default: teleport-inventory.yml here)
  TELEPORT_INVENTORY_JAR         the jar (default: inventory-service/target/inventory-service.jar in this repo)
  TELEPORT_INVENTORY_JAVA        the java binary (default: $JAVA_HOME/bin/java, else java on PATH)

Everything in the answer came from AWS, so it is hostile data to Ansible: only a well-formed
inventory is printed (strict host and group names), every string in host and group variables goes
out as {"__ansible_unsafe": ...}, which Ansible never templates, and dict keys Ansible could
template are dropped and listed in teleport_inventory_script_dropped.

On success only the JSON is written (stdout) and stderr stays empty; on failure nothing is written to
stdout, the reason goes to stderr and the exit code is 1.
"""
import hashlib
import ipaddress
import json
import os
import re
import shlex
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
MAX_DEPTH = 64
UNSAFE = "__ansible_unsafe"
# Ansible's JSON decoder turns an object holding one of its __ansible_* keys into something else
# (an unsafe string, a vault value), so such keys may only come from this script's own wrapping.
RESERVED_PREFIX = "__ansible_"
# inventory-service's names: instance ids by default, or what host_name_template makes of
# addresses, DNS names and tags; groups are [A-Za-z0-9_] by construction.
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}\Z")
HOST_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 253 characters; see host_name_template"
GROUP_NAME = re.compile(r"[A-Za-z0-9_]+\Z")
TEMPLATE_CHARACTERS = re.compile(r"[{}%#]")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TOKEN_CHARACTERS = re.compile(r"[\x21-\x7e]+\Z")
# What OpenSSH's KnownHostsCommand %H holds for our hosts: an address or name, or [host]:port.
SSH_SEARCHED = re.compile(r"(?:[A-Za-z0-9._-]{1,253}|\[[A-Za-z0-9.:_-]{1,253}\]:[0-9]{1,5})\Z")
KNOWN_HOSTS_LINE = re.compile(r"\S+ (?:ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}\Z")


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


def _show(value, limit=120):
    """A received value quoted and escaped for a message, cut to a readable length."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "...(cut)"


def _kind(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _token():
    path = os.environ.get("TELEPORT_INVENTORY_TOKEN_FILE")
    if path:
        source = "TELEPORT_INVENTORY_TOKEN_FILE"
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)  # of the file read, not of what the path names later
                token = None if mode & (stat.S_IWOTH | stat.S_IROTH) else f.read().strip()
        except OSError as e:
            raise InventoryError(f"{source}: cannot read {path}: {e.strerror}") from None
        if token is None:
            # Anyone could read it (it is no secret then) or swap it (it is not the operator's).
            raise InventoryError(f"{source}: {path} is {'writable' if mode & stat.S_IWOTH else 'readable'} by every user "
                                 f"(mode {mode:04o}): run chmod 600 {path}")
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
    except RecursionError:
        raise InventoryError(f"{source}: the response is nested too deeply to be an inventory") from None
    except ValueError:
        raise InventoryError(f"{source}: the response is not JSON") from None


def fetch(base_url, path, accept="application/json"):
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
    request = urllib.request.Request(url, headers={"Accept": accept})
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

    body = _within(deadline, late, get)
    return _parse(body, url) if accept == "application/json" else body


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


def _local_jar():
    """The config, jar and java of local mode (the service's own commands, run here)."""
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
    return config, jar, java


def run_local():
    config, jar, java = _local_jar()
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
    except RecursionError:
        raise InventoryError("inventory-service list printed JSON nested too deeply to be an inventory") from None
    except ValueError:
        raise InventoryError("inventory-service list printed something that is not JSON") from None


def _path(where, key):
    return f"{where}.{key}" if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f"{where}[{_show(key)}]"


def _wrapped(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(UNSAFE), str)


class _Unsafe:
    """Rewrites variables for Ansible: every string becomes {"__ansible_unsafe": s} (left alone
    when the service already wrapped it), and keys Ansible could act on are dropped, each with a
    note: JSON gives no way to mark a dict key unsafe."""

    def __init__(self):
        self.dropped = []
        self.problems = []

    def variables(self, value, where, depth=0):
        if isinstance(value, str):
            return {UNSAFE: value}
        if depth >= MAX_DEPTH:
            self.problems.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(value, list):
            return [self.variables(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return value if _wrapped(value) else self.mapping(value, where, depth)
        return value  # numbers, booleans and null: nothing Ansible templates

    def mapping(self, value, where, depth=0):
        out = {}
        for key, item in value.items():
            if key.startswith(RESERVED_PREFIX):
                self.dropped.append(f"{where}: dropped the key {_show(key)} (reserved by Ansible's JSON decoder)")
            elif TEMPLATE_CHARACTERS.search(key):
                self.dropped.append(f"{where}: dropped the key {_show(key)} (Ansible could template it)")
            elif CONTROL_CHARACTERS.search(key):
                self.dropped.append(f"{where}: dropped the key {_show(key)} (it holds a control character)")
            else:
                out[key] = self.variables(item, _path(where, key), depth + 1)
        return out

    def notes(self):
        return [{UNSAFE: note} for note in self.dropped]


def _names(value, where, pattern, what, rule, problems):
    if not isinstance(value, list):
        problems.append(f"{where} must be a list of {what}s, got {_kind(value)}")
        return []
    names = []
    for i, item in enumerate(value):
        name = item[UNSAFE] if _wrapped(item) else item  # a name that passes cannot hold a template
        if isinstance(name, str) and pattern.match(name) and not name.startswith(RESERVED_PREFIX):
            names.append(name)
        else:
            problems.append(f"{where}[{i}]: {_show(name)} is not a valid {what} ({rule})")
    return names


def _group_rule(name):
    if not GROUP_NAME.match(name):
        return "letters, digits and _ only"
    if name.startswith(RESERVED_PREFIX):
        return f"names starting with {RESERVED_PREFIX} are reserved by Ansible's JSON decoder"
    return None


def _refused(source, problems):
    shown = problems[:10] + ([f"and {len(problems) - 10} more"] if len(problems) > 10 else [])
    return InventoryError(f"{source}: not an Ansible inventory: " + "; ".join(shown))


def list_document(doc, source):
    """The --list document to print, or InventoryError naming every problem (up to ten) and where."""
    if not isinstance(doc, dict):
        raise _refused(source, [f"the document must be a JSON object (an Ansible --list document), got {_kind(doc)}"])
    unsafe, problems = _Unsafe(), []
    meta = doc.get("_meta")
    hostvars = {}
    if not isinstance(meta, dict) or not isinstance(meta.get("hostvars"), dict):
        problems.append("_meta: must hold hostvars, an object of each host's variables")
    else:
        problems += [f"_meta: unknown key {_show(k)} (only hostvars)" for k in meta if k != "hostvars"]
        for name, variables in meta["hostvars"].items():
            if not HOST_NAME.match(name):
                problems.append(f"_meta.hostvars: {_show(name)} is not a valid host name ({HOST_NAME_RULE})")
            elif not isinstance(variables, dict):
                problems.append(f"_meta.hostvars.{name}: must be an object of variables, got {_kind(variables)}")
            else:
                hostvars[name] = unsafe.mapping(variables, f"_meta.hostvars.{name}")
    out = {"_meta": {"hostvars": hostvars}}
    for name, group in doc.items():
        if name == "_meta":
            continue
        rule = _group_rule(name)
        if rule:
            problems.append(f"{_show(name)} is not a valid group name ({rule})")
            continue
        label = f"group '{name}'"
        if not isinstance(group, dict):
            problems.append(f"{label}: must be an object with hosts, children or vars, got {_kind(group)}")
            continue
        problems += [f"{label}: unknown key {_show(k)} (only hosts, children and vars)"
                     for k in group if k not in ("hosts", "children", "vars")]
        out[name] = {}
        if "hosts" in group:
            out[name]["hosts"] = _names(group["hosts"], f"{label}: hosts", HOST_NAME, "host name", HOST_NAME_RULE, problems)
        if "children" in group:
            out[name]["children"] = _names(group["children"], f"{label}: children", GROUP_NAME, "group name",
                                           "letters, digits and _ only", problems)
        if "vars" in group:
            if isinstance(group["vars"], dict):
                out[name]["vars"] = unsafe.mapping(group["vars"], f"{label}: vars")
            else:
                problems.append(f"{label}: vars must be an object, got {_kind(group['vars'])}")
    all_vars = doc.get("all", {}).get("vars") if isinstance(doc.get("all"), dict) else None
    cluster = all_vars.get("teleport_inventory_cluster") if isinstance(all_vars, dict) else None
    cluster = cluster[UNSAFE] if _wrapped(cluster) else cluster
    if cluster is None:
        problems.append("group 'all': vars.teleport_inventory_cluster is missing: this is not inventory-service's inventory")
    elif not isinstance(cluster, str) or not cluster:
        problems.append(f"group 'all': vars.teleport_inventory_cluster must be the cluster's name, got {_show(cluster)}")
    problems += unsafe.problems
    if problems:
        raise _refused(source, problems)
    out["_meta"]["teleport_inventory_script_dropped"] = unsafe.notes()
    out["all"].setdefault("vars", {})["teleport_inventory_script_dropped"] = unsafe.notes()
    # Lowest precedence: an operator's group_vars may replace it (and then owns host-key checking).
    out["all"]["vars"]["ansible_ssh_common_args"] = {UNSAFE: ssh_args()}
    return out


def host_document(variables, name, source):
    """The --host document to print: one host's variables, rewritten like those of --list."""
    if not isinstance(variables, dict):
        raise _refused(source, [f"the host's variables must be a JSON object, got {_kind(variables)}"])
    unsafe = _Unsafe()
    out = unsafe.mapping(variables, f"_meta.hostvars.{name}")
    if unsafe.problems:
        raise _refused(source, unsafe.problems)
    out["teleport_inventory_script_dropped"] = unsafe.notes()
    return out


def ssh_args():
    """SSH checks each host against exactly the keys its console printed at first boot (docs/security.md,
    "Host keys"): this script answers OpenSSH's KnownHostsCommand, and no known-hosts file is consulted,
    so an address an old instance had is checked against the new instance's keys."""
    command = " ".join(shlex.quote(a) for a in (sys.executable, os.path.abspath(__file__), "--known-hosts", "%H"))
    return " ".join(["-o StrictHostKeyChecking=yes", "-o UserKnownHostsFile=/dev/null",
                     "-o GlobalKnownHostsFile=/dev/null", "-o " + shlex.quote("KnownHostsCommand=" + command)])


def known_hosts(searched):
    """The known_hosts lines of the host SSH connects to (KnownHostsCommand %H), from inventory-service."""
    if not SSH_SEARCHED.match(searched):
        raise InventoryError(f"--known-hosts: {_show(searched)} is not a host SSH would search for")
    base = os.environ.get("TELEPORT_INVENTORY_URL")
    if base:
        return fetch(base, "/v1/known_hosts/" + urllib.parse.quote(searched, safe=""), accept="text/plain").decode(
            "ascii", "replace")
    config, jar, java = _local_jar()
    options, _ = jvm_options(java, jar)
    proc = subprocess.run([java] + options + ["-jar", jar, "known-hosts", "--config", config, searched],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise InventoryError(proc.stderr.decode("utf-8", "replace").strip() or f"inventory-service exited {proc.returncode}")
    return proc.stdout.decode("ascii", "replace")


def main(argv):
    base = os.environ.get("TELEPORT_INVENTORY_URL")
    if len(argv) == 3 and argv[1] == "--known-hosts":
        lines = known_hosts(argv[2])
        if not all(KNOWN_HOSTS_LINE.match(line) for line in lines.splitlines()):
            raise InventoryError(f"--known-hosts {argv[2]}: the answer is not known_hosts lines")
        sys.stdout.write(lines)
        return
    if len(argv) == 2 and argv[1] == "--list":
        if base:
            document = list_document(fetch(base, "/v1/inventory"), f"{base.rstrip('/')}/v1/inventory")
        else:
            document = list_document(run_local(), "inventory-service list")
    elif len(argv) == 3 and argv[1] == "--host":
        name = argv[2]
        if base:
            path = "/v1/hosts/" + urllib.parse.quote(name, safe="")
            document = host_document(fetch(base, path), name, base.rstrip("/") + path)
        else:
            inventory = run_local()
            list_document(inventory, "inventory-service list")  # refuses what is not an inventory
            document = host_document(inventory["_meta"]["hostvars"].get(name, {}), name, "inventory-service list")
    else:
        raise InventoryError("usage: teleport_inventory.py --list | --host NAME | --known-hosts HOST")
    # Serialised whole before anything is written, so a failure never leaves half a document on stdout.
    text = json.dumps(document, separators=(",", ":"))
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except InventoryError as err:
        print(f"{PROG}: {_printable(str(err), keep_newlines=True)}", file=sys.stderr)
        sys.exit(1)
