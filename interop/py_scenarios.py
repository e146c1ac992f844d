#!/usr/bin/env python3
"""Play named hisock scenarios as a real Python server or client.

Run with PYTHONPATH pointing at one Python hisock version:

    PYTHONPATH=/work/py/hisock-1.2    python3 py_scenarios.py --role server --dialect v1 --port 0 --scenario commands
    PYTHONPATH=/work/py/hisock-2.0.2  python3 py_scenarios.py --role client --dialect v2 --port 40001 --scenario commands
    PYTHONPATH=/work/py/hisock-head   python3 py_scenarios.py ... --dialect v3 ...

--port 0 for a server lets the library bind a free port; the real port is
reported in the first output line ({"event": "listening", "port": N}).
`--list` prints the scenarios (with their descriptions) as JSON.

Output: one JSON object per line on stdout, each with the keys role, dialect,
scenario, t (seconds since start) and event, plus event-specific fields. These
lines describe what the Python side *received* (through the library's own API
where the library offers one) and a few milestones ("listening", "sent",
"exit"). Anything the library itself prints goes to stderr.

Received values are written in a typed form so that a test can compare them
exactly:
    {"t": "none"} | {"t": "bool", "v": true} | {"t": "int", "v": "42"}  (decimal string)
    {"t": "float", "v": 1.5} | {"t": "str", "v": "..."} | {"t": "bytes", "b64": "..."}
    {"t": "list"|"tuple", "v": [...]} | {"t": "dict", "v": [[key, value], ...]}
Client info is written plainly: {"ip": [host, port], "name": ..., "group": ...}.

Every process stops by itself: each wait has a timeout, every loop is bounded
and a watchdog hard-exits (code 3) after --timeout seconds.

This file is our own code; it only drives the Python hisock library through
its public API, plus a few private helpers where the library has no public way
to do something its own wire protocol supports (noted where used).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import select
import socket
import sys
import threading
import time

OUT = sys.stdout
sys.stdout = sys.stderr  # the library print()s; keep our stdout machine-readable

ROLE = DIALECT = SCEN = None
T0 = time.monotonic()
_LOCK = threading.Lock()
HOST = "127.0.0.1"
NOARG = object()  # "call send(command) without a content argument"


def emit(event: str, **kw):
    rec = {"role": ROLE, "dialect": DIALECT, "scenario": SCEN,
           "t": round(time.monotonic() - T0, 3), "event": event}
    rec.update(kw)
    with _LOCK:
        OUT.write(json.dumps(rec) + "\n")
        OUT.flush()
    return rec


def enc(v):
    """Typed JSON form of a received Python value."""
    if v is None:
        return {"t": "none"}
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "int", "v": str(v)}
    if isinstance(v, float):
        return {"t": "float", "v": v}
    if isinstance(v, str):
        return {"t": "str", "v": v}
    if isinstance(v, (bytes, bytearray)):
        return {"t": "bytes", "b64": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, list):
        return {"t": "list", "v": [enc(x) for x in v]}
    if isinstance(v, tuple):
        return {"t": "tuple", "v": [enc(x) for x in v]}
    if isinstance(v, dict):
        return {"t": "dict", "v": [[enc(k), enc(x)] for k, x in v.items()]}
    return {"t": "repr", "v": repr(v)}


def cinfo(x):
    """Plain dict for a client info from any version (dict, ClientInfo)."""
    if x is None:
        return None
    if isinstance(x, dict):
        d = x
    elif hasattr(x, "client_dict"):  # 2.0.2 ClientInfo
        d = x.client_dict
    else:  # 3.0a dataclass
        d = {"ip": x.ip, "name": x.name, "group": x.group}
    ip = d.get("ip")
    return {"ip": list(ip) if ip is not None else None, "name": d.get("name"), "group": d.get("group")}


def annotated(fn, hints: dict):
    fn.__annotations__ = {k: v for k, v in hints.items() if v is not None}
    return fn


# ---------------------------------------------------------------------------
# Content cases per dialect: (command suffix, value, type hint for the receiver)
# The receiver registers a handler per command with that type hint (v1/v2 cast
# by hint; v3 is self-describing and ignores hints).
# ---------------------------------------------------------------------------

def cases(dialect: str, prefix: str):
    if dialect == "v1":
        # 1.x send() only takes bytes or dict; other types must be pre-encoded.
        return [
            (prefix + "str", b"hello world", str),
            (prefix + "utf8", "h\u00e9llo \u2713".encode(), str),
            (prefix + "int", b"42", int),
            (prefix + "float", b"3.5", float),
            (prefix + "bytes", b"\x00\xff\x10", bytes),
            (prefix + "empty", b"", bytes),
            (prefix + "dict", {"a": 1, "b": "x", "n": None, "t": True, "f": 2.5}, dict),
            (prefix + "nested", {"k": [1, 2, {"z": None}], "u": "\u00e9"}, dict),
            (prefix + "list", b'[1, "a", null]', list),
            ("go", b"one", str),    # handler registered
            ("good", b"two", "NOHANDLER"),  # no handler: 1.x prefix match fires "go"
        ]
    if dialect == "v2":
        return [
            (prefix + "str", "hello world", str),
            (prefix + "utf8", "h\u00e9llo \u2713", str),
            (prefix + "int", 42, int),
            (prefix + "zero", 0, int),
            (prefix + "neg", -7, int),
            (prefix + "float", 3.5, float),
            (prefix + "bytes", b"\x00\xff\x10", bytes),
            (prefix + "empty", b"", bytes),
            (prefix + "true", True, None),
            (prefix + "false", False, None),
            (prefix + "none", None, None),
            (prefix + "noarg", NOARG, None),
            (prefix + "list", [1, "a", None, True, 2.5], list),
            (prefix + "dict", {"a": [1, 2], "b": {"c": None}}, dict),
            (prefix + "nested", {"l": [[1, 2], [3, [4]]], "d": {"e": {"f": "g"}}}, dict),
            ("Draw", "x", str),  # 2.0.2 server lstrip()s "$CMD$" chars: arrives as "raw"
        ]
    return [
        (prefix + "str", "hello world", None),
        (prefix + "utf8", "h\u00e9llo \u2713", None),
        (prefix + "emptystr", "", None),
        (prefix + "int", 42, None),
        (prefix + "zero", 0, None),
        (prefix + "neg", -7, None),
        (prefix + "big", 2 ** 70, None),
        (prefix + "float", 1.5, None),
        (prefix + "floatlossy", 0.1, None),
        (prefix + "bytes", b"\x00\xff\x10", None),
        (prefix + "empty", b"", None),
        (prefix + "none", None, None),
        (prefix + "noarg", NOARG, None),
        (prefix + "list", [1, "a", b"b"], None),
        (prefix + "nlist", [[1, 2], [3]], None),
        (prefix + "dict", {"k": [1, 2]}, None),
        (prefix + "ndict", {"a": {"b": 1}}, None),
        (prefix + "tuple", (1, 2), None),
        (prefix + "mixed", [(1, "x"), {"y": b"z"}], None),
        (prefix + "elist", [], None),
        (prefix + "edict", {}, None),
        (prefix + "intkey", {1: "one"}, None),
        (prefix + "flist", [1.5, 2], None),
        (prefix + "bool", True, None),  # 3.0a cannot encode bool: send raises, nothing sent
        ("Draw", "x", None),  # 3.0a server lstrip()s "$CMD$" chars: arrives as "raw"
    ]


END = {"v1": b"end", "v2": "end", "v3": "end"}


def text(dialect, s: str):
    """A str payload in the form the dialect's send() accepts."""
    return s.encode() if dialect == "v1" else s


# ---------------------------------------------------------------------------
# Server adapters
# ---------------------------------------------------------------------------

class ServerBase:
    closed = False
    broken = False

    def __init__(self):
        self.joins = 0
        self.leaves = 0


class ServerV1(ServerBase):
    def __init__(self, port, keepalive=False):
        super().__init__()
        import hisock.server as hs
        self.s = hs.HiSockServer((HOST, port))
        self.port = self.s.sock.getsockname()[1]

    # handlers -------------------------------------------------------------
    def on_join(self, cb):
        self.s.on("join")(lambda clt: cb(cinfo(clt), tuple(clt["ip"])))

    def on_leave(self, cb):
        self.s.on("leave")(lambda clt: cb(cinfo(clt), tuple(clt["ip"])))

    def on_cmd(self, cmd, hint, cb):
        def h(clt, msg):
            cb(cinfo(clt), tuple(clt["ip"]), msg)
        self.s.on(cmd)(annotated(h, {"msg": hint}))

    def on_wildcard(self, cb):
        # 1.x has no wildcard; the reserved "message" handler sees every payload
        def h(clt, msg):
            cb(cinfo(clt), tuple(clt["ip"]), None, msg)
        self.s.on("message")(h)

    def on_rename(self, cb):
        def nc(clt, old, new):
            cb("name", cinfo(clt), tuple(clt["ip"]), old, new)

        def gc(clt, old, new):
            cb("group", cinfo(clt), tuple(clt["ip"]), old, new)
        self.s.on("name_change")(nc)
        self.s.on("group_change")(gc)

    # actions --------------------------------------------------------------
    def send(self, target, cmd, value):
        self.s.send_client(target, cmd, value)

    def send_group(self, group, cmd, value):
        self.s.send_group(group, cmd, value)

    def send_raw(self, target, data):
        self.s.send_client_raw(target, data)

    def send_group_raw(self, group, data):
        self.s.send_group_raw(group, data)

    def disconnect(self, target):
        self.s.disconnect_client(target)

    def close(self):
        self.closed = True
        self.s.close()

    def n_clients(self):
        return len(self.s.clients)

    def socks(self):
        return list(self.s._sockets_list)

    def run_once(self):
        self.s.run()


class ServerV2(ServerBase):
    def __init__(self, port, keepalive=False):
        super().__init__()
        import hisock.server as hs
        # keepalive defaults to True in 2.0.2 (start_server cannot change it)
        self.s = hs.HiSockServer((HOST, port), keepalive=keepalive)
        self.port = self.s.socket.getsockname()[1]

    def on_join(self, cb):
        self.s.on("join")(lambda client_data: cb(cinfo(client_data), client_data))

    def on_leave(self, cb):
        self.s.on("leave")(lambda client_data: cb(cinfo(client_data), client_data))

    def on_cmd(self, cmd, hint, cb):
        def h(client_data, message):
            cb(cinfo(client_data), client_data, message)
        self.s.on(cmd)(annotated(h, {"message": hint}))

    def on_wildcard(self, cb):
        def h(client_data, command, message):
            cb(cinfo(client_data), client_data, command, message)
        self.s.on("*")(h)

    def on_rename(self, cb):
        def nc(client_data, old, new):
            cb("name", cinfo(client_data), client_data, old, new)

        def gc(client_data, old, new):
            cb("group", cinfo(client_data), client_data, old, new)
        self.s.on("name_change")(nc)
        self.s.on("group_change")(gc)

    def send(self, target, cmd, value):
        if value is NOARG:
            self.s.send_client(target, cmd)
        else:
            self.s.send_client(target, cmd, value)

    def send_group(self, group, cmd, value):
        self.s.send_group(group, cmd, value)

    def send_raw(self, target, data):
        self.s._send_client_raw(target, data)  # private in 2.0.2, no public raw send

    def send_group_raw(self, group, data):
        self.s._send_group_raw(group, data)

    def disconnect(self, target):
        self.s.disconnect_client(target)

    def close(self):
        self.closed = True
        self.s.close()

    def n_clients(self):
        return len(self.s.clients)

    def socks(self):
        return list(self.s._sockets_list)

    def run_once(self):
        self.s._run()


class ServerV3(ServerV2):
    def __init__(self, port, keepalive=False):
        ServerBase.__init__(self)
        import hisock.server as hs
        self.s = hs.HiSockServer((HOST, port), keepalive=keepalive)
        self.port = self.s.socket.getsockname()[1]

    def on_cmd(self, cmd, hint, cb):
        def h(client, message):
            cb(cinfo(client), client, message)
        self.s.on(cmd)(h)

    def send_raw(self, target, data):
        # 3.0a has no per-client raw send at all; this one broadcasts (private)
        self.s._send_all_clients_raw(data)

    def send_group_raw(self, group, data):
        self.s._send_all_clients_raw(data)


# ---------------------------------------------------------------------------
# Client adapters
# ---------------------------------------------------------------------------

class ClientBase:
    def __init__(self, label):
        self.label = label
        self.dead = False
        self.got = []  # (kind, payload) of everything received

    def record(self, kind, **kw):
        self.got.append((kind, kw))
        emit(kind, client=self.label, **kw)

    def count(self, kind, pred=None):
        return sum(1 for k, kw in self.got if k == kind and (pred is None or pred(kw)))

    def alive(self):
        return not self.dead and not self.lib_closed() and self.sock.fileno() != -1

    def step(self):
        """Called when select() says the socket is readable."""
        try:
            peek = self.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, socket.timeout):
            return
        except OSError as e:
            self.record("conn_error", error=repr(e))
            self.dead = True
            return
        if peek == b"":
            self.record("eof")
            self.dead = True
            return
        try:
            self.update()
        except SystemExit as e:
            self.record("client_exit", error=repr(e))
            self.dead = True
        except Exception as e:  # library crashed on what it received
            self.record("client_error", error=repr(e))
            self.dead = True

    def install_common(self):
        self.on_connect(lambda info: self.record("client_connect", info=cinfo(info)))
        self.on_disconnect(lambda info: self.record("client_disconnect", info=cinfo(info)))
        self.on_force(lambda: self.record("force_disconnect"))

    def on_cmd(self, cmd, hint, cb=None):
        def default(value, cmd=cmd):
            self.record("command", command=cmd, value=enc(value))
        self._on_cmd(cmd, hint, cb or default)


class ClientV1(ClientBase):
    def __init__(self, label, port, name, group):
        super().__init__(label)
        import hisock.client as hc
        self.c = hc.HiSockClient((HOST, port), name, group, blocking=False)
        self.sock = self.c.sock

    def lib_closed(self):
        return self.c._closed

    def on_connect(self, cb):
        self.c.on("client_connect")(lambda data: cb(data))

    def on_disconnect(self, cb):
        self.c.on("client_disconnect")(lambda data: cb(data))

    def on_force(self, cb):
        def force_disconnect():
            cb()
        self.c.on("force_disconnect")(force_disconnect)

    def _on_cmd(self, cmd, hint, cb):
        def h(msg):
            cb(msg)
        self.c.on(cmd)(annotated(h, {"msg": hint}))

    def on_wildcard(self, cb):
        pass  # 1.x clients have no catch-all; unmatched data is dropped

    def update(self):
        self.c.update()

    def send(self, cmd, value):
        self.c.send(cmd, value)

    def send_raw(self, data):
        self.c.raw_send(data)

    def recv_raw(self, timeout=2.0):
        self.sock.settimeout(timeout)
        try:
            return self.c.recv_raw()
        finally:
            self.sock.setblocking(False)

    def change_name(self, n):
        self.c.change_name(n)

    def change_group(self, g):
        self.c.change_group(g)

    def close(self):
        self.c.close()


class ClientV2(ClientBase):
    def __init__(self, label, port, name, group):
        super().__init__(label)
        import hisock.client as hc
        self.c = hc.HiSockClient((HOST, port), name, group)
        self.sock = self.c.sock
        # bound every blocking read of the library (a stalled partial frame
        # would otherwise block forever); the library treats this as an error
        self.sock.settimeout(3.0)

    def lib_closed(self):
        return self.c.closed

    def on_connect(self, cb):
        self.c.on("client_connect")(lambda client_data: cb(client_data))

    def on_disconnect(self, cb):
        self.c.on("client_disconnect")(lambda client_data: cb(client_data))

    def on_force(self, cb):
        def force_disconnect():
            cb()
        self.c.on("force_disconnect")(force_disconnect)

    def _on_cmd(self, cmd, hint, cb):
        def h(message):
            cb(message)
        self.c.on(cmd)(annotated(h, {"message": hint}))

    def on_wildcard(self, cb):
        def h(command, message):
            cb(command, message)
        self.c.on("*")(h)

    def update(self):
        self.c._update()

    def send(self, cmd, value):
        if value is NOARG:
            self.c.send(cmd)
        else:
            self.c.send(cmd, value)

    def send_raw(self, data):
        self.c._send_raw(data)  # private: no public raw send in 2.0.2/3.0a

    def change_name(self, n):
        self.c.change_name(n)

    def change_group(self, g):
        self.c.change_group(g)

    def close(self):
        self.c.close()


class ClientV3(ClientV2):
    def _on_cmd(self, cmd, hint, cb):
        def h(message):
            cb(message)
        self.c.on(cmd)(h)


SERVERS = {"v1": ServerV1, "v2": ServerV2, "v3": ServerV3}
CLIENTS = {"v1": ClientV1, "v2": ClientV2, "v3": ClientV3}


# ---------------------------------------------------------------------------
# pumps
# ---------------------------------------------------------------------------

def pump_server(srv, until=lambda: False, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if until():
            return True
        if srv.closed or srv.broken:
            return until()
        socks = [s for s in srv.socks() if s.fileno() != -1]
        try:
            r, _, _ = select.select(socks, [], [], 0.05)
        except (OSError, ValueError) as e:
            emit("server_select_error", error=repr(e))
            srv.broken = True
            return until()
        if r:
            try:
                srv.run_once()
            except Exception as e:
                emit("server_error", error=repr(e))
                srv.broken = True
    return until()


def pump_clients(clients, until=lambda: False, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if until():
            return True
        live = [c for c in clients if c.alive()]
        if not live:
            return until()
        try:
            r, _, _ = select.select([c.sock for c in live], [], [], 0.05)
        except (OSError, ValueError):
            r = []
        for c in live:
            if c.sock in r:
                c.step()
    return until()


def wait(clients, what, until, timeout=3.0):
    ok = pump_clients(clients, until, timeout)
    if not ok:
        emit("wait_timeout", waiting_for=what)
    return ok


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

SCENARIOS = {
    "hello": "alice(g1) joins, bob (name/group null) joins, zoë (unicode name, null group) joins; "
             "zoë, bob, then alice leave with close(). Presence ($CLTCONN$/$CLTDISCONN$) as seen by alice.",
    "commands": "alice sends one command per content type the dialect supports (c_*), then c_end; the "
                "server answers with the same set from its side (s_*) and s_end; alice closes.",
    "raw": "alice sends a raw payload (no command); the server answers with a raw payload to alice and a "
           "raw payload to group g1 (v3: broadcast, it has no per-client raw send); alice closes.",
    "rename": "alice(g1) and bob(g2): alice renames to alicia, regroups to g2, then sends empty name and "
              "empty group; the server acks each change (s_ack), then after the regroup sends s_group to "
              "g2 and s_named to 'alicia'.",
    "rename_reset": "alice(g1) renames to x, then change_name(None) and change_group(None) (reset); the "
                    "server acks each change. (1.2 sends the None case without a header and kills the server.)",
    "getclient": "alice(g1), bob(g2); alice asks the server for 'bob', 'nobody' and bob's 'ip:port' "
                 "with $GETCLT$.",
    "disconnect": "alice(g1), bob(g2); alice sends kick_me; the server disconnect_client()s alice; bob "
                  "sees her leave, then closes.",
    "server_close": "alice(g1), bob(g2); alice sends close_server; the server calls close() with both "
                    "connected; clients react on their own.",
    "keepalive": "alice idles ~33 s while a keepalive server (v2 default; v3 keepalive=True) pings "
                 "her at 30 s; alice then closes. (not for v1)",
    "tls_stub": "v1 only: alice calls tls.enable(), which sends $DH_NUMS$; the 1.2 server answers "
                "$NOTLS$ and the client raises TypeError; alice closes.",
    "bigframe": "alice sends one command with a --size byte payload; the server reports what it got "
                "(truncation in 1.x/2.0.x). Not stored as a capture by default.",
}

EXPECT_CONNS = {"hello": 3, "commands": 1, "raw": 1, "rename": 2, "rename_reset": 1, "getclient": 2,
                "disconnect": 2, "server_close": 2, "keepalive": 1, "tls_stub": 1, "bigframe": 1}


def scenario_server(args):
    keep = args.scenario == "keepalive"
    srv = SERVERS[args.dialect](args.port, keepalive=keep)
    clients_now = {}

    def on_join(info, handle):
        srv.joins += 1
        clients_now[str(info["ip"])] = info
        emit("join", info=info)

    def on_leave(info, handle):
        srv.leaves += 1
        emit("leave", info=info)

    srv.on_join(on_join)
    srv.on_leave(on_leave)
    d = args.dialect
    sc = args.scenario
    state = {"done": False}

    def record_cmd(cmd):
        def cb(info, handle, value):
            emit("command", command=cmd, client=info, value=enc(value))
        return cb

    if sc in ("commands", "bigframe"):
        for cmd, _, hint in cases(d, "c_"):
            if hint == "NOHANDLER":
                continue
            srv.on_cmd(cmd, hint, record_cmd(cmd))

        def on_wild(info, handle, command, value):
            emit("wildcard", client=info, command=command, value=enc(value))
        if d != "v1":
            srv.on_wildcard(on_wild)

        def on_end(info, handle, value):
            emit("command", command="c_end", client=info, value=enc(value))
            for cmd, val, _ in cases(d, "s_"):
                try:
                    srv.send(handle, cmd, val)
                    emit("sent", command=cmd)
                except Exception as e:
                    emit("send_error", command=cmd, error=repr(e))
            srv.send(handle, "s_end", END[d])
        srv.on_cmd("c_end", str if d != "v3" else None, on_end)

        def on_big(info, handle, value):
            emit("command", command="big", client=info, length=len(value) if value is not None else None,
                 head=enc(value[:16] if value else value))
        srv.on_cmd("big", bytes if d != "v3" else None, on_big)

    elif sc == "raw":
        def on_raw(info, handle, command, value):
            emit("wildcard", client=info, command=command, value=enc(value))
            if not state["done"]:
                state["done"] = True
                srv.send_raw(handle, b"raw reply")
                srv.send_group_raw("g1", b"raw group")
                emit("sent", what="raw reply + raw group")
        srv.on_wildcard(on_raw)

    elif sc in ("rename", "rename_reset"):
        def on_rename(kind, info, handle, old, new):
            emit(kind + "_change", client=info, old=old, new=new)
            srv.send(handle, "s_ack", text(d, f"{kind}:{old}->{new}"))
            if kind == "group" and new == "g2":
                srv.send_group("g2", "s_group", text(d, "hi g2"))
                srv.send(info["name"], "s_named", text(d, f"hi {info['name']}"))
        srv.on_rename(on_rename)

    elif sc == "getclient":
        if d != "v3":
            srv.on_wildcard(lambda info, handle, command, value: emit(
                "wildcard", client=info, command=command, value=enc(value)))

    elif sc == "disconnect":
        def kick(info, handle, value):
            emit("command", command="kick_me", client=info, value=enc(value))
            srv.disconnect(handle)
            emit("sent", what="disconnect_client")
        srv.on_cmd("kick_me", None, kick)

    elif sc == "server_close":
        def close_it(info, handle, value):
            emit("command", command="close_server", client=info, value=enc(value))
            state["close"] = True
        srv.on_cmd("close_server", None, close_it)

    emit("listening", port=srv.port)
    expect = EXPECT_CONNS[sc]

    def finished():
        if sc == "server_close" and state.get("close"):
            return True
        return srv.joins >= expect and srv.n_clients() == 0

    pump_server(srv, finished, timeout=args.timeout - 2)
    if sc == "server_close" and state.get("close"):
        srv.close()
        emit("closed")
        time.sleep(0.7)  # let the clients react before the process exits
    elif not srv.closed and not srv.broken:
        try:
            srv.close()
        except Exception as e:
            emit("close_error", error=repr(e))
    emit("exit", joins=srv.joins, leaves=srv.leaves)


def scenario_client(args):
    d, sc, port = args.dialect, args.scenario, args.port
    C = CLIENTS[d]
    made = []

    def new(label, name, group):
        c = C(label, port, name, group)
        c.install_common()
        made.append(c)
        emit("connected", client=label, local=list(c.sock.getsockname()), name=name, group=group)
        return c

    def conn_seen(c, name):
        return c.count("client_connect", lambda kw: kw["info"]["name"] == name) > 0

    def disc_seen(c, name):
        return c.count("client_disconnect", lambda kw: kw["info"]["name"] == name) > 0

    if sc == "hello":
        a = new("alice", "alice", "g1")
        pump_clients(made, timeout=0.3)
        b = new("bob", None, None)
        wait(made, "alice sees bob", lambda: conn_seen(a, None))
        z = new("zoe", "zo\u00eb", None)
        wait(made, "alice sees zoe", lambda: conn_seen(a, "zo\u00eb"))
        pump_clients(made, timeout=0.2)
        z.close()
        emit("closed", client="zoe")
        wait(made, "alice sees zoe leave", lambda: disc_seen(a, "zo\u00eb"))
        b.close()
        emit("closed", client="bob")
        wait(made, "alice sees bob leave", lambda: disc_seen(a, None))
        a.close()
        emit("closed", client="alice")

    elif sc in ("commands", "bigframe"):
        a = new("alice", "alice", "g1")
        for cmd, _, hint in cases(d, "s_"):
            if hint != "NOHANDLER":
                a.on_cmd(cmd, hint)
        a.on_cmd("s_end", str if d != "v3" else None)
        a.on_wildcard(lambda command, value: a.record("wildcard", command=command, value=enc(value)))
        pump_clients(made, timeout=0.3)
        if sc == "bigframe":
            a.send("big", b"a" * args.size)
            emit("sent", command="big", length=args.size)
            pump_clients(made, timeout=2.0)
            a.close()
        else:
            for cmd, val, _ in cases(d, "c_"):
                try:
                    a.send(cmd, val)
                    emit("sent", command=cmd)
                except Exception as e:
                    emit("send_error", command=cmd, error=repr(e))
            a.send("c_end", END[d])
            wait(made, "s_end", lambda: a.count("command", lambda kw: kw["command"] == "s_end") > 0)
            a.close()
        emit("closed", client="alice")

    elif sc == "raw":
        a = new("alice", "alice", "g1")
        got = []
        a.on_wildcard(lambda command, value: (got.append(1), a.record("wildcard", command=command,
                                                                      value=enc(value))))
        pump_clients(made, timeout=0.3)
        a.send_raw(b"raw hello")
        emit("sent", what="raw hello")
        if d == "v1":
            for _ in range(2):
                try:
                    a.record("raw", value=enc(a.recv_raw(2.0)))
                except Exception as e:
                    a.record("recv_raw_error", error=repr(e))
                    break
        else:
            wait(made, "two raw payloads", lambda: len(got) >= 2)
        a.close()
        emit("closed", client="alice")

    elif sc in ("rename", "rename_reset"):
        a = new("alice", "alice", "g1")
        a.on_cmd("s_ack", str if d != "v3" else None)
        a.on_cmd("s_group", str if d != "v3" else None)
        a.on_cmd("s_named", str if d != "v3" else None)

        def acks():
            return a.count("command", lambda kw: kw["command"] == "s_ack")

        def change(kind, value):
            n = acks()
            (a.change_name if kind == "name" else a.change_group)(value)
            emit("sent", what=f"change_{kind}", value=value)
            wait(made, f"ack of change_{kind}({value!r})", lambda: acks() > n, timeout=2.0)

        if sc == "rename":
            b = new("bob", "bob", "g2")
            b.on_cmd("s_group", str if d != "v3" else None)
            pump_clients(made, timeout=0.3)
            change("name", "alicia")
            n = acks()
            a.change_group("g2")
            emit("sent", what="change_group", value="g2")
            wait(made, "ack + s_group + s_named", lambda: acks() > n and all(
                a.count("command", lambda kw, c=c: kw["command"] == c) for c in ("s_group", "s_named"))
                and b.count("command", lambda kw: kw["command"] == "s_group"))
            change("name", "")
            change("group", "")
            for c in (a, b):
                if c.alive():
                    c.close()
                    emit("closed", client=c.label)
        else:
            pump_clients(made, timeout=0.3)
            change("name", "x")
            change("name", None)
            change("group", None)
            if a.alive():
                a.close()
                emit("closed", client="alice")
            else:
                emit("not_closing", client="alice", reason="connection already gone")

    elif sc == "getclient":
        a = new("alice", "alice", "g1")
        pump_clients(made, timeout=0.3)
        b = new("bob", "bob", "g2")
        a.on_wildcard(lambda command, value: a.record("wildcard", command=command, value=enc(value)))
        wait(made, "alice sees bob", lambda: conn_seen(a, "bob"))
        bob_ip = next((kw["info"]["ip"] for k, kw in a.got if k == "client_connect"
                       and kw["info"]["name"] == "bob"), None)
        queries = ["bob", "nobody"] + ([f"{bob_ip[0]}:{bob_ip[1]}"] if bob_ip else []) + ["300.1.1.1:5"]
        for q in queries:
            if d == "v1":
                # public 1.2 API: sends "$GETCLT$ <q>", recv_raw()s the reply,
                # print()s it and raises NotImplementedError
                buf = io.StringIO()
                a.sock.settimeout(2.0)
                try:
                    with contextlib.redirect_stdout(buf):
                        a.c.get_client(q)
                except NotImplementedError as e:
                    a.record("getclt_reply", query=q, printed=buf.getvalue(), error=repr(e))
                except Exception as e:
                    a.record("getclt_error", query=q, error=repr(e))
                finally:
                    a.sock.setblocking(False)
            elif d == "v2":
                # 2.0.2 get_client() waits on recv() for a $CMD$ reply that never comes
                # (the reply is raw JSON) and blocks forever; send its bytes ourselves
                # and take the reply through the wildcard handler instead.
                n = a.count("wildcard")
                a.send_raw(f"$GETCLT${q}")
                emit("sent", what="getclt", query=q)
                wait(made, f"reply to {q}", lambda: a.count("wildcard") > n, timeout=2.0)
            else:
                # 3.0a replies with unframed JSON, which its own client cannot parse;
                # read the raw bytes off the socket ourselves.
                a.send_raw(f"$GETCLT${q}".encode())
                emit("sent", what="getclt", query=q)
                data = b""
                end = time.monotonic() + 2.0
                dec = json.JSONDecoder()
                while time.monotonic() < end:
                    r, _, _ = select.select([a.sock], [], [], 0.05)
                    if r:
                        chunk = a.sock.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                        try:
                            dec.raw_decode(data.decode())
                            break
                        except ValueError:
                            pass
                a.record("getclt_reply", query=q, unframed_bytes=enc(data))
        for c in (b, a):
            if c.alive():
                c.close()
                emit("closed", client=c.label)

    elif sc == "disconnect":
        a = new("alice", "alice", "g1")
        pump_clients(made, timeout=0.3)
        b = new("bob", "bob", "g2")
        wait(made, "alice sees bob", lambda: conn_seen(a, "bob"))
        a.send("kick_me", text(d, "please"))
        emit("sent", command="kick_me")
        wait(made, "alice gone and bob sees it",
             lambda: not a.alive() and disc_seen(b, "alice"), timeout=3.0)
        emit("state", client="alice", alive=a.alive(), lib_closed=a.lib_closed())
        for c in (a, b):
            if c.alive():
                c.close()
                emit("closed", client=c.label)

    elif sc == "server_close":
        a = new("alice", "alice", "g1")
        pump_clients(made, timeout=0.3)
        b = new("bob", "bob", "g2")
        wait(made, "alice sees bob", lambda: conn_seen(a, "bob"))
        a.send("close_server", text(d, "now"))
        emit("sent", command="close_server")
        wait(made, "both clients cut off", lambda: not a.alive() and not b.alive(), timeout=3.0)
        for c in (a, b):
            emit("state", client=c.label, alive=c.alive(), lib_closed=c.lib_closed())
            if c.alive():
                c.close()
                emit("closed", client=c.label)

    elif sc == "tls_stub":
        a = new("alice", "alice", "g1")
        pump_clients(made, timeout=0.3)
        buf = io.StringIO()
        a.sock.settimeout(2.0)
        try:
            with contextlib.redirect_stdout(buf):
                a.c.tls.enable()
            a.record("tls_enabled", printed=buf.getvalue())
        except Exception as e:
            a.record("tls_error", printed=buf.getvalue(), error=repr(e))
        finally:
            a.sock.setblocking(False)
        a.close()
        emit("closed", client="alice")

    elif sc == "keepalive":
        a = new("alice", "alice", "g1")
        emit("idle", seconds=33)
        pump_clients(made, timeout=33.0)
        emit("state", client="alice", alive=a.alive(), lib_closed=a.lib_closed())
        if a.alive():
            a.close()
            emit("closed", client="alice")

    pump_clients(made, timeout=0.2)
    emit("exit")


def main():
    global ROLE, DIALECT, SCEN
    ap = argparse.ArgumentParser(description="Play hisock scenarios as a Python peer")
    ap.add_argument("--role", choices=["server", "client"])
    ap.add_argument("--dialect", choices=["v1", "v2", "v3"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--timeout", type=float, default=None,
                    help="hard limit in seconds (default 20, keepalive 50)")
    ap.add_argument("--size", type=int, default=200000, help="payload size for bigframe")
    ap.add_argument("--list", action="store_true", help="print the scenarios as JSON and exit")
    args = ap.parse_args()
    if args.list:
        OUT.write(json.dumps({"scenarios": SCENARIOS, "connections": EXPECT_CONNS}, indent=1) + "\n")
        return 0
    if not (args.role and args.dialect and args.scenario):
        ap.error("--role, --dialect and --scenario are required")
    if args.timeout is None:
        args.timeout = 50.0 if args.scenario == "keepalive" else 20.0
    ROLE, DIALECT, SCEN = args.role, args.dialect, args.scenario

    import hisock
    emit("start", hisock_version=getattr(hisock, "__version__", None),
         hisock_path=os.path.dirname(hisock.__file__), description=SCENARIOS[args.scenario])
    if (args.scenario == "keepalive" and args.dialect == "v1") or \
            (args.scenario == "tls_stub" and args.dialect != "v1"):
        emit("unsupported", reason="not in this dialect")
        emit("exit")
        return 0

    def watchdog():
        emit("watchdog_timeout", seconds=args.timeout)
        os._exit(3)
    wd = threading.Timer(args.timeout, watchdog)
    wd.daemon = True
    wd.start()
    try:
        if args.role == "server":
            scenario_server(args)
        else:
            if args.port == 0:
                ap.error("--port is required for a client")
            scenario_client(args)
    except SystemExit:
        raise
    except BaseException as e:
        emit("fatal", error=repr(e))
        OUT.flush()
        os._exit(1)
    OUT.flush()
    # library threads (keepalive) are daemons; exit without waiting for them
    os._exit(0)


if __name__ == "__main__":
    main()
