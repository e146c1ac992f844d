#!/usr/bin/env python3
"""Logging TCP proxy for recording hisock conversations (stdlib only).

Listens on 127.0.0.1:<listen-port> (0 = pick a free port), forwards every
accepted connection to 127.0.0.1:<target-port>, and records every chunk that
passes through, in order, into a JSON file:

    {
      "format": "hisock-proxy-log/1",
      "encoding": "base64",          # every "data" field is standard base64
      "listen_port": 40001, "target_port": 40000,
      "connections": [ {"conn": 0, "client_addr": [h, p], "upstream_local_addr": [h, p],
                        "opened_ms": 1.2} ],
      "chunks": [ {"seq": 0, "conn": 0, "dir": "c2s"|"s2c", "t_ms": 3.4, "data": "<b64>"} ],
      "events": [ {"seq": 5, "conn": 0, "t_ms": 9.9, "event": "eof", "dir": "c2s"} ]
    }

"seq" is one global counter shared by chunks and events, so the relative order
of everything on all connections is preserved. A chunk is whatever one recv()
returned; chunk boundaries carry no meaning (split frames with the 16-byte
header instead). "dir" is "c2s" (client -> server) or "s2c" (server -> client).

Half-closes are propagated (EOF from one side -> shutdown(SHUT_WR) on the
other). The proxy exits when at least --conns connections were accepted and
all of them are closed in both directions, or after --timeout seconds,
whichever comes first. It prints one JSON line {"event": "ready", "port": N}
on stdout once it listens, and {"event": "done", ...} when it exits.

Usage:
    python3 proxy.py --target-port 40000 [--listen-port 0] --out log.json \
        [--conns 1] [--timeout 30]
"""
from __future__ import annotations

import argparse
import base64
import errno
import json
import select
import socket
import sys
import time


class Pair:
    def __init__(self, cid: int, cli: socket.socket, srv: socket.socket):
        self.cid = cid
        self.cli = cli
        self.srv = srv
        # direction -> still open for reading
        self.open = {"c2s": True, "s2c": True}
        self.closed = False

    def src_dst(self, sock):
        if sock is self.cli:
            return "c2s", self.cli, self.srv
        return "s2c", self.srv, self.cli


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--out", required=True)
    ap.add_argument("--conns", type=int, default=1,
                    help="exit once this many connections were accepted and all closed")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    seq = 0
    chunks: list[dict] = []
    events: list[dict] = []
    conns: list[dict] = []

    def now_ms() -> float:
        return round((time.monotonic() - t0) * 1000, 3)

    def event(pair_id, name, **kw):
        nonlocal seq
        rec = {"seq": seq, "conn": pair_id, "t_ms": now_ms(), "event": name}
        rec.update(kw)
        events.append(rec)
        seq += 1

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.listen_port))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    print(json.dumps({"event": "ready", "port": port, "target_port": args.target_port}), flush=True)

    pairs: list[Pair] = []
    accepted = 0
    timed_out = False

    def close_pair(p: Pair, why: str):
        if p.closed:
            return
        p.closed = True
        for s in (p.cli, p.srv):
            try:
                s.close()
            except OSError:
                pass
        event(p.cid, "closed", reason=why)

    while True:
        live = [p for p in pairs if not p.closed]
        if accepted >= args.conns and not live:
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
        rlist = [lsock]
        for p in live:
            if p.open["c2s"]:
                rlist.append(p.cli)
            if p.open["s2c"]:
                rlist.append(p.srv)
        try:
            r, _, _ = select.select(rlist, [], [], 0.05)
        except (OSError, ValueError):
            r = []
        for s in r:
            if s is lsock:
                cli, addr = lsock.accept()
                srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    srv.connect((args.host, args.target_port))
                except OSError as e:
                    cid = accepted
                    accepted += 1
                    event(cid, "upstream_connect_failed", error=repr(e))
                    cli.close()
                    continue
                for x in (cli, srv):
                    x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                p = Pair(accepted, cli, srv)
                accepted += 1
                pairs.append(p)
                conns.append({
                    "conn": p.cid,
                    "client_addr": list(addr),
                    "upstream_local_addr": list(srv.getsockname()),
                    "opened_ms": now_ms(),
                })
                event(p.cid, "open")
                continue
            p = next((q for q in pairs if (s is q.cli or s is q.srv) and not q.closed), None)
            if p is None:
                continue
            d, src, dst = p.src_dst(s)
            try:
                data = src.recv(65536)
            except OSError as e:
                event(p.cid, "recv_error", dir=d, error=errno.errorcode.get(e.errno, repr(e)))
                close_pair(p, "recv_error")
                continue
            if not data:
                event(p.cid, "eof", dir=d)
                p.open[d] = False
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                if not p.open["c2s"] and not p.open["s2c"]:
                    close_pair(p, "both_eof")
                continue
            chunks.append({
                "seq": seq, "conn": p.cid, "dir": d, "t_ms": now_ms(),
                "data": base64.b64encode(data).decode("ascii"),
            })
            seq += 1
            try:
                dst.sendall(data)
            except OSError as e:
                event(p.cid, "send_error", dir=d, error=errno.errorcode.get(e.errno, repr(e)))

    for p in pairs:
        close_pair(p, "timeout" if timed_out else "shutdown")
    lsock.close()
    log = {
        "format": "hisock-proxy-log/1",
        "encoding": "base64",
        "listen_port": port,
        "target_port": args.target_port,
        "timed_out": timed_out,
        "connections": conns,
        "chunks": chunks,
        "events": events,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(log, f, indent=1)
    print(json.dumps({"event": "done", "timed_out": timed_out, "chunks": len(chunks),
                      "connections": accepted}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
