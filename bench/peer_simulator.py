#!/usr/bin/env python3
"""Simulated proxy peers on 127.0.0.1 for bench/node_agent_bench.py (a bench helper, not a double).

  peer_simulator.py N_TLS N_SILENT N_CLOSED WORKDIR OUTFILE

N_TLS TLS servers that demand a client certificate signed by WORKDIR/ca.crt, as Teleport's peer
port does (mutual TLS); N_SILENT listeners that accept and never say a word; N_CLOSED ports where
nothing listens. Writes one host:port per line to OUTFILE once all listen, then serves until killed.
"""
import asyncio
import logging
import socket
import ssl
import sys


async def drain(reader, writer):
    try:
        while await reader.read(4096):
            pass
    except Exception:  # a probe that drops the connection mid-handshake is the normal case
        pass
    writer.close()


async def main(n_tls, n_silent, n_closed, work, out):
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{work}/peer.crt", f"{work}/peer.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(f"{work}/ca.crt")
    addrs, servers = [], []
    for _ in range(n_tls):
        s = await asyncio.start_server(drain, "127.0.0.1", 0, ssl=ctx, ssl_handshake_timeout=10, backlog=512)
        servers.append(s)
        addrs.append("127.0.0.1:%d" % s.sockets[0].getsockname()[1])
    for _ in range(n_silent):
        s = await asyncio.start_server(drain, "127.0.0.1", 0, backlog=512)
        servers.append(s)
        addrs.append("127.0.0.1:%d" % s.sockets[0].getsockname()[1])
    for _ in range(n_closed):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        addrs.append("127.0.0.1:%d" % t.getsockname()[1])
        t.close()
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(addrs) + "\n")
    import os
    os.replace(out + ".tmp", out)
    await asyncio.Event().wait()


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(int(a[0]), int(a[1]), int(a[2]), a[3], a[4]))
