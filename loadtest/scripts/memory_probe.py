#!/usr/bin/env python3
"""Peak memory of one `duoxie serve` process under the three attacks of issue #9.

  sync      one victim holds 100 conversations of 500 maximum-length messages; N sockets of
            theirs each send one `chat.sync` frame (100 cursors at 0, limit 500) at once
  export    that victim downloads `GET /api/me/export` (N at once)
  password  N parallel `POST /api/me/password` with a wrong current password

and, as `timing`, how long a wrong password login takes for a registered and for an unknown
number (an enumeration oracle when they differ).

Usage (after `cargo build --release`):

  python3 loadtest/scripts/memory_probe.py --binary target/release/duoxie prepare --data /tmp/probe
  python3 loadtest/scripts/memory_probe.py --binary target/release/duoxie measure --data /tmp/probe
  python3 loadtest/scripts/memory_probe.py --binary target/release/duoxie timing --data /tmp/timing

`prepare` fills a data folder (SQLite) through the server's own API and stops; `measure` starts
a fresh process on it (so its peak RSS starts from a quiet baseline), runs each scenario and
prints the resident set before and the peak (VmHWM) after, from /proc. Run `measure` on a copy
of the folder for each binary to compare (a newer binary migrates the copy forward).
Needs `pip install websockets`. Traffic goes only to 127.0.0.1.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import websockets

PORT = 18400
BASE = f"http://127.0.0.1:{PORT}"
STATE = "probe_state.json"


def env_for(data):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUOXIE_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update({
        "DUOXIE_DATA_DIR": data,
        "DUOXIE_LISTEN": f"127.0.0.1:{PORT}",
        "DUOXIE_AUTH_DEV_CODES": "true",
        "DUOXIE_AUTH_CODE_RESEND_MS": "0",
        "DUOXIE_WS_RATE_PER_SEC": "100000",
        "DUOXIE_WS_RATE_BURST": "100000",
        # Settings the older binary does not know are ignored by it.
        "DUOXIE_AUTH_CODES_PER_IP_PER_HOUR": "1000000",
        "DUOXIE_AUTH_CODES_PER_PHONE_PER_DAY": "1000000",
        "DUOXIE_AUTH_CODES_GLOBAL_PER_MINUTE": "1000000",
        "DUOXIE_AUTH_LOGINS_PER_IP_PER_HOUR": "1000000",
        "DUOXIE_CHAT_NEW_CONVERSATIONS_PER_HOUR": "1000000",
        "DUOXIE_LOG": "warn",
    })
    return env


def start(binary, data):
    proc = subprocess.Popen([binary, "serve"], env=env_for(data),
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "probe.log"), "a"))
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(BASE + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    proc.kill()
    sys.exit("the server did not become ready")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def post(path, body, token=None):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def login(phone):
    _, sent = post("/api/auth/code", {"phone": phone})
    _, logged = post("/api/auth/login", {"phone": phone, "code": sent["dev_code"], "birth_date": "1990-01-01"})
    return {"id": logged["user"]["id"], "token": logged["token"], "phone": phone}


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def socket(token):
    return await websockets.connect(f"ws://127.0.0.1:{PORT}/ws", subprotocols=["duoxie.v1", "auth." + token],
                                    max_size=1 << 31, open_timeout=30)


async def reply_to(ws, cid):
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("re") == cid:
            return frame


async def fill(peer, victim_id, messages, chars):
    ws = await socket(peer["token"])
    await ws.send(json.dumps({"id": "o", "type": "chat.open", "data": {"peer_id": victim_id}}))
    conv = (await reply_to(ws, "o"))["data"]["conversation"]["id"]
    text = "翡" * chars
    # Each send also comes back as a 12 KB chat.message event: keep what is queued for this
    # socket well under the 1 MiB outbound limit.
    in_flight = 16
    sent = 0
    pending = set()
    while sent < messages or pending:
        while sent < messages and len(pending) < in_flight:
            cid = f"m{sent}"
            await ws.send(json.dumps({"id": cid, "type": "chat.send",
                                      "data": {"conversation_id": conv, "client_id": cid, "text": text}}))
            pending.add(cid)
            sent += 1
        frame = json.loads(await ws.recv())
        if frame.get("re") in pending:
            if not frame.get("ok"):
                raise SystemExit(f"send refused: {frame}")
            pending.discard(frame["re"])
    await ws.close()
    return conv


async def prepare(args):
    shutil.rmtree(args.data, ignore_errors=True)
    os.makedirs(args.data)
    proc = start(args.binary, args.data)
    try:
        victim = login("13900000000")
        peers = [login(f"139{10000000 + i:08d}") for i in range(args.conversations)]
        started = time.time()
        convs = []
        for batch in range(0, len(peers), 10):
            convs += await asyncio.gather(*(fill(p, victim["id"], args.messages, args.chars)
                                            for p in peers[batch:batch + 10]))
        print(f"filled {len(convs)} conversations x {args.messages} messages x {args.chars} chars "
              f"in {time.time() - started:.1f} s")
        code, _ = post("/api/me/password", {"password": "the right password 1"}, victim["token"])
        assert code == 200, code
        with open(os.path.join(args.data, STATE), "w") as f:
            json.dump({"victim": victim, "conversations": convs}, f)
    finally:
        stop(proc)


async def sync_bomb(state, parallel):
    cursors = {str(c): 0 for c in state["conversations"]}
    sockets = [await socket(state["victim"]["token"]) for _ in range(parallel)]

    async def one(ws, i):
        await ws.send(json.dumps({"id": f"s{i}", "type": "chat.sync", "data": {"cursors": cursors, "limit": 500}}))
        frame = await reply_to(ws, f"s{i}")
        messages = sum(len(r["messages"]) for r in frame["data"]["results"]) if frame.get("ok") else 0
        return frame.get("ok"), messages, len(json.dumps(frame))

    try:
        results = await asyncio.gather(*(one(ws, i) for i, ws in enumerate(sockets)), return_exceptions=True)
    finally:
        for ws in sockets:
            await ws.close()
    return results


def export(state, parallel):
    import concurrent.futures

    def one(_):
        req = urllib.request.Request(BASE + "/api/me/export",
                                     headers={"Authorization": "Bearer " + state["victim"]["token"]})
        total = 0
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                while chunk := r.read(1 << 20):
                    total += len(chunk)
            return 200, total
        except urllib.error.HTTPError as e:
            return e.code, 0

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, range(parallel)))


def passwords(state, parallel):
    import concurrent.futures

    def one(i):
        return post("/api/me/password", {"password": "a new password 2", "current_password": f"wrong {i}"},
                    state["victim"]["token"])[0]

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        codes = list(pool.map(one, range(parallel)))
    return {c: codes.count(c) for c in set(codes)}


async def measure(args):
    with open(os.path.join(args.data, STATE)) as f:
        state = json.load(f)
    for scenario in args.scenarios:
        proc = start(args.binary, args.data)
        try:
            time.sleep(1)
            before = rss_kb(proc.pid, "VmRSS")
            started = time.time()
            if scenario == "sync":
                outcome = await sync_bomb(state, args.parallel)
            elif scenario == "export":
                outcome = export(state, args.parallel)
            else:
                outcome = passwords(state, 150)
            took = time.time() - started
            time.sleep(1)
            peak = rss_kb(proc.pid, "VmHWM")
            after = rss_kb(proc.pid, "VmRSS")
            print(json.dumps({"scenario": scenario, "binary": args.binary, "rss_before_mb": round(before / 1024),
                              "peak_rss_mb": round(peak / 1024), "rss_after_mb": round(after / 1024),
                              "seconds": round(took, 1), "outcome": outcome}, default=str))
        finally:
            stop(proc)


def timing(args):
    import statistics

    shutil.rmtree(args.data, ignore_errors=True)
    os.makedirs(args.data)
    plain = env_for

    def lenient(data):
        # Enough attempts that the lock never answers instead of the hash.
        env = plain(data)
        env["DUOXIE_AUTH_PASSWORD_MAX_ATTEMPTS"] = "100000"
        return env

    globals()["env_for"] = lenient
    proc = start(args.binary, args.data)
    try:
        user = login("13700000001")
        assert post("/api/me/password", {"password": "the right one 123"}, user["token"])[0] == 200
        times = {"registered": [], "unknown": []}
        for i in range(args.rounds):
            for case, phone in (("registered", user["phone"]), ("unknown", f"137{20000000 + i:08d}")):
                started = time.perf_counter()
                code, body = post("/api/auth/login", {"phone": phone, "password": "wrong password"})
                times[case].append((time.perf_counter() - started) * 1000)
                assert code == 401, (code, body)
        for case, ts in times.items():
            ts.sort()
            print(json.dumps({"binary": args.binary, "number": case, "p50_ms": round(statistics.median(ts), 1),
                              "p90_ms": round(ts[int(len(ts) * 0.9)], 1), "logins": len(ts)}))
    finally:
        stop(proc)
        globals()["env_for"] = plain


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    sub = p.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("--data", required=True)
    prep.add_argument("--conversations", type=int, default=100)
    prep.add_argument("--messages", type=int, default=500)
    prep.add_argument("--chars", type=int, default=4000)
    meas = sub.add_parser("measure")
    meas.add_argument("--data", required=True)
    meas.add_argument("--parallel", type=int, default=1)
    meas.add_argument("--scenarios", nargs="+", default=["sync", "export", "password"],
                      choices=["sync", "export", "password"])
    tim = sub.add_parser("timing")
    tim.add_argument("--data", required=True)
    tim.add_argument("--rounds", type=int, default=40)
    args = p.parse_args()
    if args.command == "timing":
        timing(args)
    else:
        asyncio.run(prepare(args) if args.command == "prepare" else measure(args))


if __name__ == "__main__":
    main()
