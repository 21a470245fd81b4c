"""A bounded HTTPS client for the drills: `GET https://<name>/v1/webapi/ping` on a fresh
connection every --interval, resolving the name before each request through the system
resolver (in a client namespace: the region's CoreDNS), the certificate verified against
--cacert for the name. It stops by itself after --max-requests or --max-seconds, whichever
comes first, or when --stop-file appears.

One JSON line per request on --out: {"n", "t" (epoch s), "address", "ok", "status",
"error", "ms", "local_port", "sha256" (of the leaf certificate served)}; the last line is
{"done": true, "sent", "failed"}.

  ip netns exec tsbx-euc1-client .venv/bin/python -m harness.sandbox.client --name teleport.sandbox.test \\
      --cacert sandbox/state/acme/root.pem --out /tmp/c.jsonl --max-requests 400 --max-seconds 120
"""
import argparse
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import ssl
import sys
import time


def ping(name, ctx, timeout, rec, connect=None):
    """One request on a new connection (to connect, else to what name resolves to); fills rec's address and
    local_port as it goes and returns the HTTP status."""
    rec["address"] = address = connect or socket.getaddrinfo(name, 443, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    raw = socket.create_connection((address, 443), timeout=timeout)
    rec["local_port"] = raw.getsockname()[1]
    conn = http.client.HTTPSConnection(name, 443, timeout=timeout, context=ctx)
    conn.sock = ctx.wrap_socket(raw, server_hostname=name)
    rec["sha256"] = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()
    try:
        conn.request("GET", "/v1/webapi/ping", headers={"Connection": "close"})
        r = conn.getresponse()
        body = r.read()
        if r.status == 200:
            json.loads(body)  # a whole answer, not a cut one
        return r.status
    finally:
        conn.close()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="client", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--cacert", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    ap.add_argument("--max-requests", type=int, required=True)
    ap.add_argument("--max-seconds", type=float, required=True)
    ap.add_argument("--stop-file")
    ap.add_argument("--connect", help="an IPv4 address to connect to instead of resolving --name (a world with no DNS); "
                                      "the certificate is still verified for --name")
    a = ap.parse_args(argv)
    if a.max_requests < 1 or a.max_seconds <= 0 or a.interval <= 0:
        print("client: --max-requests, --max-seconds and --interval must be > 0", file=sys.stderr)
        return 2
    if a.connect:
        try:
            ipaddress.IPv4Address(a.connect)
        except ValueError:
            print(f"client: --connect {a.connect!r} is not an IPv4 address", file=sys.stderr)
            return 2
    ctx = ssl.create_default_context(cafile=a.cacert)
    deadline = time.monotonic() + a.max_seconds
    sent = failed = 0
    with open(a.out, "a", buffering=1) as out:
        while sent < a.max_requests and time.monotonic() < deadline:
            if a.stop_file and os.path.exists(a.stop_file):
                break
            started = time.monotonic()
            rec = {"n": sent, "t": round(time.time(), 3), "address": None, "ok": False, "status": None, "error": None}
            try:
                rec["status"] = ping(a.name, ctx, a.timeout, rec, a.connect)
                rec["ok"] = rec["status"] == 200
            except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as e:
                rec["error"] = f"{type(e).__name__}: {e}"
            rec["ms"] = round((time.monotonic() - started) * 1000, 1)
            sent += 1
            failed += not rec["ok"]
            out.write(json.dumps(rec) + "\n")
            pause = a.interval - (time.monotonic() - started)
            if pause > 0:
                time.sleep(pause)  # the client's pacing, not a synchronisation
        out.write(json.dumps({"done": True, "sent": sent, "failed": failed}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
