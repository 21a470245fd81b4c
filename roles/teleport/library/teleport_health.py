#!/usr/bin/python
"""Waits until Teleport on this host is ready, then reads the version it runs: one module run.

Why a module: the gate was three `uri` tasks (/readyz, the proxy's /v1/webapi/ping, /metrics), and
each task starts the host's Python and imports ansible.module_utils.basic again (docs/ansible.md,
"Fewer module runs"); this gate runs on every host of every site.yml, restart and upgrade. The waits
are the same as the three tasks': /readyz until it answers 200, then (on a proxy) the web listener's
ping until it answers 200, each within `timeout` seconds of its own, polled every `delay` seconds;
then /metrics once, whose `teleport_build_info{version="..."}` is returned for the caller's version
gate. A refusal names the URL, what it last answered and for how long.

Requests go straight to the addresses given (no HTTP proxy from the environment: these are this
host's own listeners). The web listener's certificate is checked only with validate_certs.
"""
import re
import ssl
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: teleport_health
short_description: Wait for Teleport's /readyz (and a proxy's web ping), then read its running version
options:
  diag_url: {description: "The diagnostic listener's base URL (http://host:port).", type: str, required: true}
  web_url: {description: "The proxy web listener's ping URL; omitted on an auth server.", type: str}
  validate_certs: {description: Check the web listener's certificate., type: bool, default: false}
  timeout: {description: Seconds each wait may take., type: int, default: 180}
  delay: {description: Seconds between two tries., type: int, default: 2}
"""

RETURN = r"""
version: {description: "The version teleport_build_info reports ('' when /metrics has none).", type: str, returned: success}
waited: {description: Seconds spent waiting for /readyz and the ping., type: float, returned: always}
"""

BUILD_INFO = re.compile(r'teleport_build_info\{(?:[^}]*,)?version="([^"]+)"')
REQUEST_TIMEOUT = 10


def get(opener, url, timeout):
    """(status, body) of a GET; status -1 with the reason when nothing answered."""
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status, r.read(64 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(4096).decode("utf-8", "replace") if e.fp else ""
    except (urllib.error.URLError, OSError, ValueError) as e:
        return -1, str(getattr(e, "reason", e))


def wait_200(opener, url, timeout, delay):
    """Polls url until it answers 200 or timeout seconds have passed: (ok, last status, last body)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(opener, url, max(1, min(REQUEST_TIMEOUT, deadline - time.monotonic())))
        if status == 200:
            return True, status, body
        if time.monotonic() + delay > deadline:
            return False, status, body
        time.sleep(delay)


def main():
    module = AnsibleModule(
        argument_spec={
            "diag_url": {"type": "str", "required": True},
            "web_url": {"type": "str"},
            "validate_certs": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 180},
            "delay": {"type": "int", "default": 2},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["timeout"] < 1 or p["delay"] < 1:
        module.fail_json(msg=f"timeout ({p['timeout']}) and delay ({p['delay']}) must be at least 1 second")
    diag = p["diag_url"].rstrip("/")
    if not re.match(r"^http://[^/]+\Z", diag):
        module.fail_json(msg=f"diag_url must be http://host:port, got {diag!r}")
    context = ssl.create_default_context()
    if not p["validate_certs"]:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))

    t0 = time.monotonic()
    waits = [("/readyz", diag + "/readyz")] + ([("the web listener's ping", p["web_url"])] if p["web_url"] else [])
    for what, url in waits:
        ok, status, body = wait_200(opener, url, p["timeout"], p["delay"])
        if not ok:
            last = f"HTTP {status}" if status > 0 else f"no answer ({body})"
            detail = " ".join(body.split())[:300] if status > 0 and body else ""
            module.fail_json(msg=f"{what} at {url} did not answer 200 within {p['timeout']} s; the last try: {last}"
                                 + (f": {detail}" if detail else ""),
                             waited=round(time.monotonic() - t0, 1))
    waited = round(time.monotonic() - t0, 1)
    status, body = get(opener, diag + "/metrics", REQUEST_TIMEOUT)
    if status != 200:
        module.fail_json(msg=f"{diag}/metrics answered {status if status > 0 else body} after Teleport was ready; "
                             "the running version cannot be read", waited=waited)
    found = BUILD_INFO.search(body)
    module.exit_json(changed=False, version=found.group(1) if found else "", waited=waited)


if __name__ == "__main__":
    main()
