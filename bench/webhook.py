"""Webhook throughput and latency: our gateway against a bare wechatpy + Flask echo app.

Both apps are served the same way (gunicorn, gthread workers) and driven by wrk at the same
concurrency, with a text message that our app answers from a keyword reply, in plaintext and in
safe (AES) mode. Our app runs on PostgreSQL and Redis, as in production. A third app, "bareredis",
is the bare echo app plus the Redis work DESIGN.md asks of every push (dedupe claim, follower lock,
conversation read, reply store, unlock) in two pipelines: the floor that design sets.

After a warm-up the apps take turns for `--rounds` rounds (in alternating order), each turn
`--duration` seconds with messages no earlier turn sent; each figure is the median over the rounds,
and each round's throughput ratio compares runs seconds apart, so a change in the machine's speed
during the benchmark moves the ratio less than it moves the figures.

    python bench/webhook.py --size 25000 --duration 8 --rounds 5 --connections 32 --workers 2

Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("SCRM_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SCRM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
TOKEN = "benchtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wxbench000000001"
KEYWORD, ANSWER = "价格", "本店保养套餐 599 元起，详询 021-58881234。"

BARE_APP = '''
import os
import redis
from flask import Flask, request
from wechatpy import parse_message, create_reply
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature
from wechatpy.exceptions import InvalidSignatureException

TOKEN, AES_KEY, APP_ID = {token!r}, {aes!r}, {app_id!r}
crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
app = Flask(__name__)
# With BARE_REDIS_URL set, the echo app also does the Redis work DESIGN.md asks of every push, in two
# pipelines like ours: dedupe claim + follower lock + conversation read, then reply store + unlock.
R = redis.Redis.from_url(os.environ["BARE_REDIS_URL"]) if os.environ.get("BARE_REDIS_URL") else None

@app.route("/wechat/<slug>", methods=["POST"])
def hook(slug):
    a = request.args
    try:
        check_signature(TOKEN, a.get("signature", ""), a.get("timestamp", ""), a.get("nonce", ""))
    except InvalidSignatureException:
        return "forbidden", 403
    body = request.get_data()
    safe = a.get("encrypt_type") == "aes"
    if safe:
        body = crypto.decrypt_message(body, a["msg_signature"], a["timestamp"], a["nonce"])
    msg = parse_message(body)
    if R is not None:
        p = R.pipeline(transaction=False)
        p.set("scrmbenchbare:seen:" + str(msg.id), "1", nx=True, ex=300)
        p.set("scrmbenchbare:lock:" + msg.source, "t", nx=True, px=10000)
        p.get("scrmbenchbare:conv:" + msg.source)
        p.execute()
    xml = create_reply("echo: " + (getattr(msg, "content", "") or ""), msg).render()
    if R is not None:
        p = R.pipeline(transaction=False)
        p.set("scrmbenchbare:seen:" + str(msg.id), xml, ex=300)
        p.delete("scrmbenchbare:lock:" + msg.source)
        p.execute()
    if safe:
        xml = crypto.encrypt_message(xml, a["nonce"], a["timestamp"])
    return xml, 200, {{"Content-Type": "application/xml"}}
'''

# Every request carries a distinct MsgId: a repeat would take our dedupe path (a retry), not the
# keyword path being measured. wrk's threads take interleaved indexes (thread k: start+k, start+k+2, ...)
# and each run starts where the caller says, so the warm-up and the measured run never overlap.
WRK_LUA = '''
local reqs = dofile("{requests_file}")
local n = #reqs
local threads = 2
-- a global, not a local: setup() gives each thread its own through thread:set, which sets globals only
-- (a chunk-level `local tid` would shadow it, and both threads would send the same messages)
tid = 0
local thread_ids = 0
local index = 0
function setup(thread)
  thread:set("tid", thread_ids)
  thread_ids = thread_ids + 1
end
function init(args)
  index = tonumber(args[1]) + tid
end
function request()
  local r = reqs[(index % n) + 1]
  index = index + threads
  return wrk.format("POST", r[1], {{["Content-Type"] = "text/xml"}}, r[2])
end
'''


def log(msg: str) -> None:
    """Progress on stderr so stdout ends with the JSON line only."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (WeChat's algorithm)


def text_xml(openid: str, content: str, msg_id: int, ts: int) -> str:
    """An inbound text message in WeChat's layout."""
    return (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def build_requests(n: int, safe: bool, openids: int, run_tag: int) -> list[tuple[str, str]]:
    """N distinct signed requests (path+query, body); encrypted in safe mode."""
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID + "x")  # the "safe" account's app id
    ts = str(int(time.time()))
    out = []
    for i in range(n):
        nonce = str(100000 + i)
        xml = text_xml(f"oBENCH{i % openids:06d}xxxxxxxxxxxxxxxxx", KEYWORD, run_tag * 10**9 + i, int(ts))
        sig = _sign(TOKEN, ts, nonce)
        slug = "safe" if safe else "plain"
        if safe:
            enc = crypto.encrypt_message(xml, nonce, ts)
            encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", enc)
            assert encrypt
            msg_sig = _sign(TOKEN, ts, nonce, encrypt.group(1))
            body = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypt.group(1)}]]></Encrypt></xml>")
            path = (f"/wechat/{slug}?signature={sig}&timestamp={ts}&nonce={nonce}&openid=o"
                    f"&encrypt_type=aes&msg_signature={msg_sig}")
        else:
            body, path = xml, f"/wechat/{slug}?signature={sig}&timestamp={ts}&nonce={nonce}&openid=o"
        out.append((path, body))
    return out


def write_lua(reqs: list[tuple[str, str]], workdir: Path, name: str) -> Path:
    """The request table as a Lua file plus the wrk script that cycles through it."""
    data = workdir / f"{name}-requests.lua"
    with data.open("w") as fh:
        fh.write("return {\n")
        for path, body in reqs:
            fh.write(f"{{[==[{path}]==], [==[{body}]==]}},\n")
        fh.write("}\n")
    script = workdir / f"{name}.lua"
    script.write_text(WRK_LUA.format(requests_file=data))
    return script


def run_wrk(url: str, script: Path, connections: int, duration: int, start: int = 0) -> dict[str, float]:
    """Drive `url` with wrk from message `start` on; return requests/s, p50/p99 latency in ms, errors."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", "-s", str(script),
           url, "--", str(start)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"), "requests": float(total.group(1)) if total else 0.0,
            "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "socket_errors": float(sum(int(x) for x in errors.groups())) if errors else 0.0}


def worker_rss_mb(master_pid: int) -> list[float]:
    """Resident memory of each gunicorn worker (children of the master)."""
    out = []
    for child in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split():
        status = Path(f"/proc/{child}/status").read_text()
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        if m:
            out.append(int(m.group(1)) / 1024)
    return out


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until `url` answers, or fail if the server died."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def start_ours(workdir: Path, db_url: str, port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    """Our app under gunicorn via `scrm web`."""
    cfg = workdir / "bench.toml"
    cfg.write_text(f'''[app]
secret_key = "bench-secret-key-0123456789"
public_url = "http://127.0.0.1:{port}"
[database]
url = "{db_url}"
pool_size = {threads}
[redis]
url = "{REDIS_URL}"
prefix = "scrmbench{uuid.uuid4().hex[:6]}"
[accounts.plain]
app_id = "{APP_ID}"
app_secret = "bench"
token = "{TOKEN}"
api_base_url = "http://127.0.0.1:9/sandbox/wx"
[accounts.safe]
app_id = "{APP_ID}x"
app_secret = "bench"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
api_base_url = "http://127.0.0.1:9/sandbox/wx"
''')
    env = dict(os.environ, SCRM_CONFIG=str(cfg))
    return subprocess.Popen([sys.executable, "-m", "scrm.cli", "web", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(workers), "--threads", str(threads)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "ours.log", "wb"), start_new_session=True)


def start_bare(workdir: Path, port: int, workers: int, threads: int, safe_app_id: str,
               with_redis: bool = False) -> subprocess.Popen[bytes]:
    """The bare wechatpy + Flask echo app under gunicorn with the same worker settings."""
    (workdir / "bare_app.py").write_text(BARE_APP.format(token=TOKEN, aes=AES_KEY, app_id=safe_app_id))
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = {k: v for k, v in os.environ.items() if k != "BARE_REDIS_URL"}
    if with_redis:
        env["BARE_REDIS_URL"] = REDIS_URL
    return subprocess.Popen([gunicorn, "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gthread",
                             "--threads", str(threads), "--keep-alive", "5", "bare_app:app"], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "bare.log", "ab"), start_new_session=True,
                            env=env)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a gunicorn master and its workers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def prepare_database(name: str) -> str:
    """Create a throw-away PostgreSQL database, migrate it, add the keyword reply."""
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    from scrm.migrate import upgrade

    upgrade(url)
    eng = sa.create_engine(url)
    with eng.begin() as c:
        for slug, app_id in (("plain", APP_ID), ("safe", APP_ID + "x")):
            acc = c.execute(sa.text("INSERT INTO accounts (slug, name, app_id, created_at) VALUES (:s, :s, :a, now()) "
                                    "RETURNING id"), {"s": slug, "a": app_id}).scalar()
            c.execute(sa.text(
                "INSERT INTO keyword_replies (account_id, keyword, match, kind, text, news_title, news_description, "
                "news_url, news_pic_url, priority, enabled, hits, created_at, updated_at) VALUES "
                "(:acc, :kw, 'exact', 'text', :ans, '', '', '', '', 0, true, 0, now(), now())"),
                {"acc": acc, "kw": KEYWORD, "ans": ANSWER})
    eng.dispose()
    return url


def drop_database(name: str) -> None:
    """Remove the throw-away database."""
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def check_reply(base: str, reqs: list[tuple[str, str]], expect: str, safe: bool) -> None:
    """One request by hand: the app answers with the expected text (decrypting in safe mode)."""
    from wechatpy.crypto import WeChatCrypto

    path, body = reqs[-1]
    resp = requests.post(base + path, data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=5)
    text = resp.text
    if safe:
        q = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
        m = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", text)
        t = re.search(r"<TimeStamp>(\d+)</TimeStamp>", text)
        assert m and t, text
        text = WeChatCrypto(TOKEN, AES_KEY, APP_ID + "x").decrypt_message(text, m.group(1), t.group(1), q["nonce"])
    if resp.status_code != 200 or expect not in text:
        raise SystemExit(f"unexpected reply from {base}: {resp.status_code} {text[:300]}")


def main() -> None:
    """Run both apps in both modes and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20000,
                    help="distinct messages per turn (ours must not run out; at most 60,000: wrk's Lua)")
    ap.add_argument("--duration", type=int, default=5, help="seconds of load per app and round")
    ap.add_argument("--rounds", type=int, default=5, help="turns each app takes per mode (figures: their median)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    ap.add_argument("--openids", type=int, default=500, help="distinct followers sending")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="scrm-bench-"))
    dbname = f"scrm_bench_{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen[bytes]] = []
    figures: dict[str, Any] = {"connections": args.connections, "workers": args.workers, "threads": args.threads,
                               "duration_s": args.duration, "rounds": args.rounds, "size": args.size}
    try:
        log("preparing PostgreSQL database and requests")
        db_url = prepare_database(dbname)
        run_tag = int(time.time()) % 100000
        # One request file per (mode, round), each with its own MsgIds: round 0 is the warm-up.
        scripts: dict[str, list[tuple[list[tuple[str, str]], Path]]] = {}
        for m, mode in enumerate(("plain", "safe")):
            scripts[mode] = []
            for r in range(args.rounds + 1):
                reqs = build_requests(args.size, mode == "safe", args.openids, (run_tag * 2 + m) * 100 + r)
                scripts[mode].append((reqs, write_lua(reqs, workdir, f"{mode}{r}")))
        port_ours, port_bare, port_bare_redis = _free_port(), _free_port(), _free_port()
        ours = start_ours(workdir, db_url, port_ours, args.workers, args.threads)
        bare = start_bare(workdir, port_bare, args.workers, args.threads, APP_ID + "x")
        bare_redis = start_bare(workdir, port_bare_redis, args.workers, args.threads, APP_ID + "x", with_redis=True)
        procs += [ours, bare, bare_redis]
        wait_up(f"http://127.0.0.1:{port_ours}/healthz", ours)
        wait_up(f"http://127.0.0.1:{port_bare}/", bare)
        wait_up(f"http://127.0.0.1:{port_bare_redis}/", bare_redis)
        apps = (("ours", port_ours, ANSWER), ("bare", port_bare, "echo: " + KEYWORD),
                ("bareredis", port_bare_redis, "echo: " + KEYWORD))
        for mode, files in scripts.items():
            warm_reqs, warm_script = files[0]
            for name, port, expect in apps:
                base = f"http://127.0.0.1:{port}"
                check_reply(base, warm_reqs, expect, mode == "safe")
                log(f"{mode}/{name}: warm-up")
                run_wrk(base, warm_script, args.connections, 2)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in apps}
            for r, (_, script) in enumerate(files[1:], start=1):
                # The apps take turns, in alternating order, so a change in the machine's speed during
                # the run falls on all of them alike; each round's ratio compares neighbouring runs.
                for name, port, _ in (apps if r % 2 else apps[::-1]):
                    res = run_wrk(f"http://127.0.0.1:{port}", script, args.connections, args.duration)
                    if name == "ours" and res["requests"] > args.size:
                        log(f"note: {mode}/{name} sent {int(res['requests'])} messages but --size is {args.size}: "
                            f"the excess were repeats (dedupe path); raise --size")
                    log(f"{mode}/{name} round {r}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.1f} ms, "
                        f"p99 {res['p99_ms']:.1f} ms")
                    runs[name].append(res)
            figures.update(summarize(mode, runs))
        rss = worker_rss_mb(ours.pid)
        figures["ours_worker_rss_mb_max"] = round(max(rss), 1) if rss else None
        figures["bare_worker_rss_mb_max"] = round(max(worker_rss_mb(bare.pid) or [0]), 1)
    finally:
        for p in procs:
            stop(p)
        drop_database(dbname)
        shutil.rmtree(workdir, ignore_errors=True)
        _clear_redis()
    print(json.dumps(figures))


def summarize(mode: str, runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Per app the median over rounds of each figure, the ratios per round and their median."""
    out: dict[str, Any] = {}
    for name, results in runs.items():
        for key in results[0]:
            values = [res[key] for res in results]
            out[f"{mode}_{name}_{key}"] = round(statistics.median(values), 2)
            if key in ("rps", "p99_ms"):
                out[f"{mode}_{name}_{key}_rounds"] = [round(v, 2) for v in values]
    for name, label in (("ours", "throughput_ratio"), ("bareredis", "bareredis_ratio")):
        ratios = [a["rps"] / b["rps"] for a, b in zip(runs[name], runs["bare"], strict=True)]
        out[f"{mode}_{label}"] = round(statistics.median(ratios), 3)
        out[f"{mode}_{label}_rounds"] = [round(v, 3) for v in ratios]
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clear_redis() -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    for key in r.scan_iter(match="scrmbench*", count=10000):
        r.delete(key)


if __name__ == "__main__":
    main()
