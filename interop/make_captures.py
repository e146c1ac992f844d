#!/usr/bin/env python3
"""Record Python-hisock <-> Python-hisock conversations through proxy.py.

For every (dialect, scenario) it starts
    py_scenarios.py --role server  (PYTHONPATH = that hisock version, port 0)
    proxy.py        (listen port 0 -> the server's port)
    py_scenarios.py --role client  (-> the proxy's port)
waits for all three to stop on their own, and writes
    testdata/captures/<dialect>_<scenario>.json
with the raw chunks, a frame-level view and the JSON lines both Python peers
printed. Stdlib only.

    python3 interop/make_captures.py                      # everything
    python3 interop/make_captures.py --dialect v3 --scenario commands
    python3 interop/make_captures.py --split FILE.json    # re-split an existing capture

Python sources are looked up in --py-root (default /work/py): hisock-1.2,
hisock-2.0.2 and hisock-head.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT_DIR = os.path.join(REPO, "testdata", "captures")

PY_DIRS = {"v1": "hisock-1.2", "v2": "hisock-2.0.2", "v3": "hisock-head"}
PY_TAGS = {"v1": "1.2", "v2": "2.0.2", "v3": "3.0a (repository head; its constants.py still says 2.0.2)"}
SCENARIOS = ["hello", "commands", "raw", "rename", "rename_reset", "getclient", "disconnect",
             "server_close", "keepalive", "tls_stub"]
UNSUPPORTED = {("v1", "keepalive"), ("v2", "tls_stub"), ("v3", "tls_stub")}
HEADER_LEN = 16
HEADER_RE = re.compile(rb"^[0-9]+ *$")
# payloads that 3.0a (and 1.2's change_name(None)/change_group(None)) write
# without a length header
UNFRAMED_WORDS = [b"$KEEPALIVE$", b"$DISCONN$", b"$CHGROUP$", b"$CHNAME$"]


def split_stream(data: bytes, header_len: int = HEADER_LEN):
    """Split one direction of one connection into frames.

    A frame is {"offset", "header", "len", "payload"(bytes)} plus flags:
      "unframed": true   - payload sent with no header (a known reserved word
                           or a JSON object where a header was expected)
      "truncated": true  - the stream ended before the announced length
      "garbage": true    - bytes that are neither a header nor a known word
    """
    frames = []
    i = 0
    n = len(data)
    while i < n:
        head = data[i:i + header_len]
        if len(head) == header_len and HEADER_RE.match(head):
            ln = int(head)
            payload = data[i + header_len:i + header_len + ln]
            fr = {"offset": i, "header": head.decode("ascii"), "len": ln, "payload": payload}
            if len(payload) < ln:
                fr["truncated"] = True
            frames.append(fr)
            i += header_len + ln
            continue
        rest = data[i:]
        word = next((w for w in UNFRAMED_WORDS if rest.startswith(w)), None)
        if word is not None:
            frames.append({"offset": i, "header": None, "len": len(word), "payload": word,
                           "unframed": True})
            i += len(word)
            continue
        if rest.startswith(b"{"):
            try:
                _, end = json.JSONDecoder().raw_decode(rest.decode("utf-8", "surrogateescape"))
                ln = len(rest.decode("utf-8", "surrogateescape")[:end].encode("utf-8", "surrogateescape"))
                frames.append({"offset": i, "header": None, "len": ln, "payload": rest[:ln],
                               "unframed": True})
                i += ln
                continue
            except ValueError:
                pass
        if len(head) < header_len and HEADER_RE.match(head):
            frames.append({"offset": i, "header": None, "len": len(rest), "payload": rest,
                           "truncated": True, "partial_header": True})
        else:
            frames.append({"offset": i, "header": None, "len": len(rest), "payload": rest,
                           "garbage": True})
        break
    return frames


def frame_view(log: dict):
    """Frames per (connection, direction), in stream order, plus a global order."""
    streams: dict = {}
    first_seq: dict = {}
    for ch in log["chunks"]:
        key = (ch["conn"], ch["dir"])
        buf = streams.setdefault(key, [])
        start = sum(len(b) for _, b in buf)
        raw = base64.b64decode(ch["data"])
        buf.append((ch["seq"], raw))
        first_seq.setdefault(key, [])
        first_seq[key].append((start, ch["seq"], ch["t_ms"]))
    out = []
    for (conn, d), parts in streams.items():
        data = b"".join(b for _, b in parts)
        for fr in split_stream(data):
            # chunk that contains the frame's first byte: gives seq/time for ordering
            seq, t = None, None
            for start, s, tm in first_seq[(conn, d)]:
                if start <= fr["offset"]:
                    seq, t = s, tm
            rec = {"conn": conn, "dir": d, "seq": seq, "t_ms": t, "offset": fr["offset"],
                   "header": fr["header"], "len": fr["len"],
                   "payload_b64": base64.b64encode(fr["payload"]).decode(),
                   "payload_repr": repr(fr["payload"])}
            for flag in ("unframed", "truncated", "garbage", "partial_header"):
                if fr.get(flag):
                    rec[flag] = True
            out.append(rec)
    out.sort(key=lambda r: (r["seq"] if r["seq"] is not None else 1 << 30, r["conn"], r["offset"]))
    for k, r in enumerate(out):
        r["index"] = k
    return out


def dumps_capture(obj) -> str:
    """JSON with one chunk / frame / output line per text line (small and diffable)."""
    def val(v, depth):
        if isinstance(v, dict) and depth < 1 and v:
            inner = ",\n".join(f'{" " * (depth + 1)}{json.dumps(k)}: {val(x, depth + 1)}' for k, x in v.items())
            return "{\n" + inner + "\n" + " " * depth + "}"
        if isinstance(v, dict) and depth < 2 and v and all(isinstance(x, list) for x in v.values()):
            inner = ",\n".join(f'{" " * (depth + 1)}{json.dumps(k)}: {val(x, depth + 1)}' for k, x in v.items())
            return "{\n" + inner + "\n" + " " * depth + "}"
        if isinstance(v, list) and depth < 3 and v:
            inner = ",\n".join(" " * (depth + 1) + json.dumps(x, separators=(",", ":")) for x in v)
            return "[\n" + inner + "\n" + " " * depth + "]"
        return json.dumps(v, separators=(", ", ": "))
    return val(obj, 0) + "\n"


def slim_output(lines):
    """Drop the keys every py_scenarios line repeats (they are in the capture header)."""
    out = []
    for rec in lines:
        rec = {k: v for k, v in rec.items() if k not in ("dialect", "scenario", "role", "hisock_path")}
        if rec.get("event") == "start":
            rec.pop("description", None)
        out.append(rec)
    return out


def write_capture(path, capture):
    po = capture.get("python_output")
    if po:
        capture["python_output"] = {k: slim_output(v) for k, v in po.items()}
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps_capture(capture))


def read_json_lines(text: str):
    res = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            res.append(json.loads(line))
        except ValueError:
            res.append({"unparsed": line})
    return res


def wait_line(proc, want, timeout):
    """Read stdout lines until one is JSON with event == want; returns (record, lines)."""
    lines = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == want:
            return rec, lines
    return None, lines


def run_one(dialect, scenario, py_root, out_dir, keep_tmp=False, python=sys.executable):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(py_root, PY_DIRS[dialect])
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    scen = os.path.join(HERE, "py_scenarios.py")
    proxy = os.path.join(HERE, "proxy.py")
    listing = json.loads(subprocess.run([python, scen, "--list"], capture_output=True, text=True,
                                        env=env, timeout=20).stdout)
    conns = listing["connections"][scenario]
    desc = listing["scenarios"][scenario]
    hard = 60 if scenario == "keepalive" else 30

    tmpdir = tempfile.mkdtemp(prefix="hisock-cap-")
    log_path = os.path.join(tmpdir, "proxy.json")
    srv = subprocess.Popen([python, scen, "--role", "server", "--dialect", dialect, "--port", "0",
                            "--scenario", scenario], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
    rec, srv_lines = wait_line(srv, "listening", 10)
    if rec is None:
        srv.kill()
        raise RuntimeError(f"server did not start: {srv_lines} {srv.stderr.read()}")
    sport = rec["port"]
    prx = subprocess.Popen([python, proxy, "--target-port", str(sport), "--out", log_path,
                            "--conns", str(conns), "--timeout", str(hard)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prec, _ = wait_line(prx, "ready", 10)
    if prec is None:
        srv.kill()
        prx.kill()
        raise RuntimeError("proxy did not start")
    cli = subprocess.Popen([python, scen, "--role", "client", "--dialect", dialect, "--port",
                            str(prec["port"]), "--scenario", scenario], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    c_out, c_err = cli.communicate(timeout=hard + 10)
    s_out, s_err = srv.communicate(timeout=hard + 10)
    p_out, p_err = prx.communicate(timeout=hard + 10)
    with open(log_path, encoding="utf-8") as f:
        log = json.load(f)
    frames = frame_view(log)
    capture = {
        "format": "hisock-capture/1",
        "dialect": dialect,
        "python_hisock": PY_TAGS[dialect],
        "scenario": scenario,
        "description": desc,
        "header_len": HEADER_LEN,
        "encoding": "base64",
        "notes": "Recorded by interop/make_captures.py: Python server <-> proxy.py <-> Python client, "
                 "all on 127.0.0.1. Ports are ephemeral; the server sees the proxy's outgoing "
                 "sockets, so every ip/port inside payloads is a proxy-side address.",
        "exit_codes": {"server": srv.returncode, "client": cli.returncode, "proxy": prx.returncode},
        "proxy_timed_out": log["timed_out"],
        "connections": log["connections"],
        "chunks": log["chunks"],
        "events": log["events"],
        "frames": frames,
        "python_output": {
            "server": read_json_lines("".join(srv_lines) + s_out),
            "client": read_json_lines(c_out),
        },
    }
    errs = {k: v for k, v in (("server", s_err), ("client", c_err)) if v.strip()}
    if errs:
        capture["python_stderr"] = {k: v[-4000:] for k, v in errs.items()}
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{dialect}_{scenario}.json")
    write_capture(path, capture)
    if not keep_tmp:
        try:
            os.remove(log_path)
            os.rmdir(tmpdir)
        except OSError:
            pass
    return path, capture


def summarize(capture):
    lines = []
    for fr in capture["frames"]:
        flags = "".join(f" [{k}]" for k in ("unframed", "truncated", "garbage") if fr.get(k))
        hdr = repr(fr["header"]) if fr["header"] is not None else "(no header)"
        lines.append(f"  #{fr['conn']} {fr['dir']} {hdr} {fr['payload_repr'][:150]}{flags}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dialect", action="append", choices=["v1", "v2", "v3"])
    ap.add_argument("--scenario", action="append", choices=SCENARIOS)
    ap.add_argument("--py-root", default="/work/py")
    ap.add_argument("--out-dir", default=OUT_DIR)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--split", help="print the frame view of an existing capture file and exit")
    ap.add_argument("--reformat", action="store_true",
                    help="recompute the frame view of every capture in --out-dir and rewrite it")
    args = ap.parse_args()
    if args.reformat:
        for name in sorted(os.listdir(args.out_dir)):
            if name.endswith(".json"):
                path = os.path.join(args.out_dir, name)
                with open(path, encoding="utf-8") as f:
                    cap = json.load(f)
                cap["frames"] = frame_view(cap)
                write_capture(path, cap)
                print("rewrote", name)
        return 0
    if args.split:
        with open(args.split, encoding="utf-8") as f:
            cap = json.load(f)
        cap["frames"] = frame_view(cap)
        print(summarize(cap))
        return 0
    dialects = args.dialect or ["v1", "v2", "v3"]
    scenarios = args.scenario or SCENARIOS
    for d in dialects:
        for s in scenarios:
            if (d, s) in UNSUPPORTED:
                continue
            t = time.monotonic()
            path, cap = run_one(d, s, args.py_root, args.out_dir)
            print(f"{os.path.relpath(path, REPO)}  ({time.monotonic() - t:.1f}s, "
                  f"{len(cap['frames'])} frames, exit {cap['exit_codes']})", flush=True)
            if not args.quiet:
                print(summarize(cap), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
