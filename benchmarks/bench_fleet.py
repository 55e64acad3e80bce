"""A fleet on loopback: N devices against the production topology, then against
`litefleet serve` alone, with the same load (JSON).

    python benchmarks/bench_fleet.py [--devices 1000] [--seconds 20] [--poll 10] [--report 50]

Topology: nginx (`litefleet deploy nginx`) serves metadata/ and targets/ from disk and
proxies /v1/ to `litefleet serve --workers 2 --db postgresql+psycopg://…` (a real
PostgreSQL in a temp folder). Baseline: one `litefleet serve` process with SQLite.

Each device (an asyncio task; aiohttp sessions of `--connections` keep-alive connections in
all, 50 devices per session) polls `timestamp.json` with `If-None-Match` every `poll` s
(jittered 0.5-1.5x); when the timestamp changed it fetches the chain snapshot -> targets ->
model file (one device in ten is "cut" half-way and resumes with `Range`); every `report` s
(jittered) it posts a batch of `--batch` events (a real agent sends its queue in one POST)
with its own per-device token. A new release is published `--publish-at` into the run.
Every loop is bounded by the deadline; everything is on 127.0.0.1.

Reported per run: requests/s, p50/p99 per route, errors (must be 0), events sent vs stored
(must be equal), seconds until 95 % of devices fetched the new model, and the CPU seconds each
server process group used (from /proc via psutil). `*_vs_single` = topology / `litefleet
serve` alone, same run. The generator runs on the same cores as the servers: see
`generator_cpu_s`.

Poll throughput is measured apart, because a Python generator cannot saturate nginx: after
the device run, `wrk` (native; `apt-get install wrk`) sends timestamp polls with
`If-None-Match` (304, a device's usual poll) alternately to the topology's nginx and to a
plain nginx serving the same repository folder with nothing else configured, `--wrk-rounds`
rounds of `--wrk-seconds` each: `polls.topology_vs_plain` is the ratio of the medians. The
topology nginx's CPU during its rounds gives the CPU per poll, from which `capacity` derives
devices per core at one poll per hour; API + PostgreSQL CPU per report gives the telemetry
side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import psutil

from litefleet.registry.deploy import NginxSite, write_nginx
from litefleet.registry.repository import Repository
from litefleet.registry.telemetry import TelemetryStore
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.services import (
    NginxServer,
    PostgresServer,
    free_port,
    missing,
    wait_for_port,
)

MODEL = "bench"
MODEL_BYTES = 64 * 1024


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    events_sent: int = 0
    events_accepted: int = 0
    seen: dict[int, float] = field(default_factory=dict)
    """device -> monotonic time it had the new release's model file."""
    published_at: float | None = None


def publish(repo: Repository, version: int) -> str:
    """A new release: a model file under its hash name, new targets, snapshot, timestamp."""
    with repo.transaction(roles=("targets",)) as tx:
        info = tx.add_target(f"{MODEL}/{version}/model.tflite", os.urandom(MODEL_BYTES))
    return info.hashes["sha256"]


@dataclass
class Reply:
    status_code: int
    etag: str | None
    content: bytes


class Device:
    def __init__(self, i: int, client: aiohttp.ClientSession, token: str, args, stats: Stats):
        self.i, self.client, self.args, self.stats = i, client, args, stats
        self.id = f"bench-{i:06d}"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.rng = random.Random(i)
        self.etag: str | None = None
        self.snapshot = 0
        self.version = 0

    async def _get(self, route: str, url: str, **kw) -> Reply | None:
        t0 = time.perf_counter()
        try:
            async with self.client.get(url, **kw) as r:
                reply = Reply(r.status, r.headers.get("ETag"), await r.read())
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.stats.errors.append(f"{route}: {type(exc).__name__} {exc}")
            return None
        self.stats.latency[route].append(time.perf_counter() - t0)
        if reply.status_code >= 400:
            self.stats.errors.append(f"{route}: HTTP {reply.status_code}")
            return None
        return reply

    async def poll(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        r = await self._get("timestamp", "/metadata/timestamp.json", headers=headers)
        if r is None or r.status_code == 304:
            return
        self.etag = r.etag
        snapshot = json.loads(r.content)["signed"]["meta"]["snapshot.json"]["version"]
        if snapshot == self.snapshot:
            return
        r = await self._get("snapshot", f"/metadata/{snapshot}.snapshot.json")
        if r is None:
            return
        targets_v = json.loads(r.content)["signed"]["meta"]["targets.json"]["version"]
        r = await self._get("targets", f"/metadata/{targets_v}.targets.json")
        if r is None:
            return
        targets = json.loads(r.content)["signed"]["targets"]
        version = max(int(p.split("/")[1]) for p in targets if p.startswith(f"{MODEL}/"))
        info = targets[f"{MODEL}/{version}/model.tflite"]
        if version != self.version and not await self._fetch_model(version, info):
            return
        self.snapshot, self.version = snapshot, version

    async def _fetch_model(self, version: int, info: dict) -> bool:
        url = f"/targets/{MODEL}/{version}/{info['hashes']['sha256']}.model.tflite"
        size = info["length"]
        if self.i % 10 == 0:  # cut half-way, then resumed with Range
            half = size // 2
            a = await self._get("model_range", url, headers={"Range": f"bytes=0-{half - 1}"})
            b = await self._get("model_range", url, headers={"Range": f"bytes={half}-"})
            ok = a is not None and b is not None and a.status_code == b.status_code == 206
            ok = ok and len(a.content) + len(b.content) == size
        else:
            r = await self._get("model", url)
            ok = r is not None and len(r.content) == size
        if not ok:
            self.stats.errors.append(f"model {version}: incomplete")
            return False
        if self.stats.published_at is not None and version > 1:
            self.stats.seen[self.i] = time.monotonic()
        return True

    async def report(self) -> None:
        now = time.time()
        body = {
            "events": [
                {
                    "type": "heartbeat",
                    "model": MODEL,
                    "version": self.version,
                    "time": now + k * 1e-3,
                    "metrics": {"drift": 0.01, "latency_ms": 1.5},
                }
                for k in range(self.args.batch)
            ]
        }
        data = json.dumps(body, separators=(",", ":")).encode()
        self.stats.events_sent += len(body["events"])
        t0 = time.perf_counter()
        try:
            async with self.client.post(
                f"/v1/devices/{self.id}/events", data=data, headers=self.headers
            ) as r:
                status, reply = r.status, await r.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.stats.errors.append(f"telemetry: {type(exc).__name__} {exc}")
            return
        self.stats.latency["telemetry"].append(time.perf_counter() - t0)
        if status != 202:
            self.stats.errors.append(f"telemetry: HTTP {status}")
            return
        self.stats.events_accepted += json.loads(reply)["stored"]

    async def run(self, start: float, deadline: float) -> None:
        poll, every = self.args.poll, self.args.report
        await asyncio.sleep(self.rng.uniform(0, poll))
        next_report = start + self.rng.uniform(0, every)
        for _ in range(int(self.args.seconds / (poll * 0.5)) + 2):  # bounded in count too
            if time.monotonic() >= deadline:
                return
            await self.poll()
            if time.monotonic() >= next_report:
                await self.report()
                next_report = time.monotonic() + every * self.rng.uniform(0.5, 1.5)
            await asyncio.sleep(min(poll * self.rng.uniform(0.5, 1.5), deadline - time.monotonic()))


async def drive(url: str, repo: Repository, tokens: dict[str, str], args) -> dict:
    stats = Stats()
    # many small connection pools: one pool shared by 10,000 waiting tasks spends its
    # time scanning its queue (the generator, not the server, would be measured)
    n_clients = max(1, -(-args.devices // 50))
    per = max(2, args.connections // n_clients)
    clients = [
        aiohttp.ClientSession(
            base_url=url,
            connector=aiohttp.TCPConnector(limit=per, limit_per_host=per),
            timeout=aiohttp.ClientTimeout(total=120),
            auto_decompress=False,
        )
        for _ in range(n_clients)
    ]
    try:
        async with clients[0].get("/metadata/timestamp.json") as first:
            etag = first.headers["ETag"]
            content = await first.read()
        snapshot = json.loads(content)["signed"]["meta"]["snapshot.json"]["version"]
        current = max(int(p.split("/")[1]) for p in repo.load("targets").signed.targets)
        devices = [
            Device(i, clients[i % n_clients], tokens[f"bench-{i:06d}"], args, stats)
            for i in range(args.devices)
        ]
        for d in devices:  # devices are up to date when the run starts
            d.etag, d.snapshot, d.version = etag, snapshot, current
        start = time.monotonic()
        deadline = start + args.seconds
        gen_cpu = psutil.Process().cpu_times()

        async def publisher() -> None:
            await asyncio.sleep(args.publish_at)
            stats.published_at = time.monotonic()
            await asyncio.to_thread(publish, repo, current + 1)

        await asyncio.gather(publisher(), *(d.run(start, deadline) for d in devices))
        took = time.monotonic() - start
        after = psutil.Process().cpu_times()
    finally:
        for c in clients:
            await c.close()
    gen_cpu_s = (after.user + after.system) - (gen_cpu.user + gen_cpu.system)
    return _summary(stats, took, args.devices, gen_cpu_s)


def _summary(stats: Stats, took: float, devices: int, gen_cpu_s: float) -> dict:
    routes = {
        route: {
            "requests": len(v),
            "p50_ms": round(float(np.percentile(v, 50)) * 1e3, 2),
            "p99_ms": round(float(np.percentile(v, 99)) * 1e3, 2),
        }
        for route, v in sorted(stats.latency.items())
        if v
    }
    total = sum(r["requests"] for r in routes.values())
    delays = (
        sorted(t - stats.published_at for t in stats.seen.values()) if stats.published_at else []
    )
    k95 = int(np.ceil(0.95 * devices))
    return {
        "seconds": round(took, 1),
        "requests": total,
        "requests_per_s": round(total / took, 1),
        "timestamp_polls_per_s": round(routes.get("timestamp", {}).get("requests", 0) / took, 1),
        "routes": routes,
        "errors": len(stats.errors),
        "error_samples": stats.errors[:5],
        "events_sent": stats.events_sent,
        "events_accepted": stats.events_accepted,
        "events_per_s": round(stats.events_accepted / took, 1),
        "devices_with_new_release": len(delays),
        "devices_with_new_release_pct": round(100 * len(delays) / devices, 1),
        "seconds_to_95pct_devices": round(delays[k95 - 1], 2) if len(delays) >= k95 else None,
        "generator_cpu_s": round(gen_cpu_s, 1),
    }


class CpuMeter:
    """CPU seconds used by a set of processes (and their children) between two reads."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.start = self._read()

    def _read(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                for p in [root, *root.children(recursive=True)]:
                    t = p.cpu_times()
                    # + children already reaped: PostgreSQL backends of closed pool
                    # connections, which the live process tree no longer shows
                    total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                continue
        return total

    def used(self) -> float:
        return self._read() - self.start


def _serve(repo: Path, port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "litefleet", "serve", str(repo), "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    wait_for_port(port, timeout=120, proc=proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _count(url: str) -> int:
    store = TelemetryStore(url)
    try:
        return store.count_events()
    finally:
        store.engine.dispose()


def _per_request(result: dict) -> float | None:
    """CPU the servers spent per request: independent of how fast the generator was."""
    cpu = sum(result["server_cpu_s"].values())
    return round(1e3 * cpu / result["requests"], 3) if result["requests"] else None


def run_topology(tmp: Path, repo: Repository, tokens, args) -> dict:
    with PostgresServer(tmp / "pg", max_connections=100) as pg:
        api_port, web_port = free_port(), free_port()
        api = _serve(repo.path, api_port, "--workers", str(args.workers), "--db", pg.url)
        try:
            conf = write_nginx(
                NginxSite(
                    repo=repo.path,
                    listen=f"127.0.0.1:{web_port}",
                    operator_listen=f"127.0.0.1:{free_port()}",
                    api=f"http://127.0.0.1:{api_port}",
                    prefix=tmp / "nginx",
                    user="root" if os.geteuid() == 0 else None,
                )
            )
            with NginxServer(conf, web_port) as web:
                pg_pid = int((pg.data / "postmaster.pid").read_text().split()[0])
                meters = {
                    "nginx": CpuMeter([web.proc.pid]),
                    "api": CpuMeter([api.pid]),
                    "postgres": CpuMeter([pg_pid]),
                }
                result = asyncio.run(drive(web.url, repo, tokens, args))
                result["server_cpu_s"] = {k: round(m.used(), 2) for k, m in meters.items()}
                result["server_cpu_ms_per_request"] = _per_request(result)
                if args.wrk_rounds and shutil.which("wrk"):
                    result["polls"] = poll_comparison(web.url, web.proc.pid, repo.path, tmp, args)
                elif args.wrk_rounds:
                    result["polls"] = {"skipped": "wrk is not installed (apt-get install wrk)"}
        finally:
            _stop(api)
        result["events_stored"] = _count(pg.url)
    return result


def run_single(tmp: Path, repo: Repository, tokens, args) -> dict:
    port = free_port()
    db = f"sqlite:///{tmp / 'single.db'}"
    api = _serve(repo.path, port, "--db", db)
    try:
        meter = CpuMeter([api.pid])
        result = asyncio.run(drive(f"http://127.0.0.1:{port}", repo, tokens, args))
        result["server_cpu_s"] = {"litefleet_serve": round(meter.used(), 2)}
        result["server_cpu_ms_per_request"] = _per_request(result)
    finally:
        _stop(api)
    result["events_stored"] = _count(db)
    return result


def plain_nginx_conf(repo: Path, port: int, prefix: Path, user: str | None) -> Path:
    """The baseline: nginx serving the repository folder directly, nothing else configured."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        (f"user {user};\n" if user else "")
        + f"""worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {repo.resolve()};
    }}
}}
"""
    )
    return conf


def wrk(url: str, etag: str | None, seconds: float, connections: int) -> dict:
    """`wrk` (a native load tool: the generator is not the limit) on one URL, keep-alive."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    if etag:
        cmd += ["-H", f"If-None-Match: {etag}"]
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    result: dict[str, float] = {"errors": 0}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["requests_per_s"] = float(words[1])
        elif words[:1] in (["50%"], ["99%"]):
            result[f"p{words[0][:-1]}_ms"] = _ms(words[1])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            result["errors"] += int(words[-1])
        elif line.strip().startswith("Socket errors:"):
            result["errors"] += sum(int(w.rstrip(",")) for w in words[3::2])
        elif "requests in" in line:
            result["requests"] = int(words[0])
    return result


def _ms(text: str) -> float:
    for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return round(float(text[: -len(unit)]) * scale, 3)
    raise ValueError(text)


def poll_comparison(topo_url: str, nginx_pid: int, repo: Path, tmp: Path, args) -> dict:
    """Timestamp polls (`If-None-Match`, 304 as a device's usual poll) through the topology's
    nginx vs a plain nginx serving the same file: alternating rounds, same machine state."""
    path = "/metadata/timestamp.json"
    import urllib.request

    with urllib.request.urlopen(topo_url + path) as r:
        etag = r.headers["ETag"]
    port = free_port()
    user = "root" if os.geteuid() == 0 else None
    conf = plain_nginx_conf(repo, port, tmp / "plain-nginx", user)
    rounds: dict[str, list[dict]] = {"topology": [], "plain": []}
    nginx_cpu = 0.0
    with NginxServer(conf, port) as plain:
        for _ in range(args.wrk_rounds):
            meter = CpuMeter([nginx_pid])
            rounds["topology"].append(wrk(topo_url + path, etag, args.wrk_seconds, args.wrk_c))
            nginx_cpu += meter.used()
            rounds["plain"].append(wrk(plain.url + path, etag, args.wrk_seconds, args.wrk_c))
    polls = sum(r["requests"] for r in rounds["topology"])
    best = {k: max(r["requests_per_s"] for r in v) for k, v in rounds.items()}
    median = {k: float(np.median([r["requests_per_s"] for r in v])) for k, v in rounds.items()}
    return {
        "tool": f"wrk -t2 -c{args.wrk_c} -d{args.wrk_seconds:g}s, If-None-Match (304)",
        "rounds": rounds,
        "errors": sum(r["errors"] for v in rounds.values() for r in v),
        "topology_median_per_s": round(median["topology"]),
        "plain_median_per_s": round(median["plain"]),
        "topology_vs_plain": round(median["topology"] / median["plain"], 3),
        "topology_vs_plain_best": round(best["topology"] / best["plain"], 3),
        "topology_nginx_cpu_s": round(nginx_cpu, 2),
        "topology_nginx_cpu_us_per_poll": round(1e6 * nginx_cpu / polls, 2),
    }


def capacity(topo: dict) -> dict:
    """Devices one core serves at one poll per hour (plus one report per hour), from the CPU
    seconds the server processes used per request in the topology run."""
    polls = topo["routes"].get("timestamp", {}).get("requests", 0)
    reports = topo["routes"].get("telemetry", {}).get("requests", 0)
    cpu = topo["server_cpu_s"]
    out: dict[str, object] = {}
    if "topology_nginx_cpu_us_per_poll" in topo.get("polls", {}):  # wrk's 304 polls alone
        per_poll = topo["polls"]["topology_nginx_cpu_us_per_poll"] / 1e6
        out["nginx_cpu_us_per_304_poll"] = topo["polls"]["topology_nginx_cpu_us_per_poll"]
        out["devices_per_nginx_core_at_1_poll_per_h"] = int(3600 / per_poll)
    if polls:
        out["nginx_cpu_ms_per_request"] = round(1e3 * cpu["nginx"] / topo["requests"], 3)
        out["devices_per_nginx_core_at_1_mixed_request_per_h"] = int(
            3600 * topo["requests"] / cpu["nginx"]
        )
    if reports:
        per_report = (cpu["api"] + cpu["postgres"]) / reports
        out["api_plus_db_cpu_ms_per_report"] = round(1e3 * per_report, 2)
        out["devices_per_api_core_at_1_report_per_h"] = int(3600 / per_report)
        out["events_per_s_per_api_plus_db_core"] = int(
            topo["events_accepted"] / (cpu["api"] + cpu["postgres"])
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll", type=float, default=10.0, help="Seconds between polls.")
    parser.add_argument("--report", type=float, default=50.0, help="Seconds between reports.")
    parser.add_argument("--batch", type=int, default=50, help="Events per report.")
    parser.add_argument("--publish-at", type=float, default=None, help="Default: 1/4 of the run.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=1000, help="Client keep-alive pool.")
    parser.add_argument("--wrk-rounds", type=int, default=3, help="0: no wrk comparison.")
    parser.add_argument("--wrk-seconds", type=float, default=5.0)
    parser.add_argument("--wrk-c", type=int, default=64, help="wrk connections.")
    parser.add_argument("--only", choices=("topology", "single"), default=None)
    args = parser.parse_args()
    args.publish_at = args.seconds / 4 if args.publish_at is None else args.publish_at
    if missing():
        sys.exit(f"error: bench_fleet needs {', '.join(missing())}")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        repo = Repository.init(tmp / "repo")
        publish(repo, 1)
        ids = [f"bench-{i:06d}" for i in range(args.devices)]
        tokens = DeviceTokens(repo.keys.path).issue_many(ids, "bench")
        if args.only in (None, "topology"):
            runs["topology"] = run_topology(tmp / "topology", repo, tokens, args)
        if args.only in (None, "single"):
            runs["single"] = run_single(tmp, repo, tokens, args)
    result: dict[str, object] = {
        "benchmark": "fleet",
        "devices": args.devices,
        "seconds": args.seconds,
        "poll_s": args.poll,
        "report_s": args.report,
        "events_per_report": args.batch,
        "model_bytes": MODEL_BYTES,
        "api_workers": args.workers,
        **runs,
    }
    if "topology" in runs:
        result["capacity"] = capacity(runs["topology"])
    if len(runs) == 2:
        t, s = runs["topology"], runs["single"]

        def ratio(a, b):
            return float(f"{a / b:.3g}") if a and b else None

        result["requests_per_s_vs_single"] = ratio(t["requests_per_s"], s["requests_per_s"])
        result["events_per_s_vs_single"] = ratio(t["events_per_s"], s["events_per_s"])
        result["timestamp_p99_vs_single"] = ratio(
            t["routes"]["timestamp"]["p99_ms"], s["routes"]["timestamp"]["p99_ms"]
        )
        result["server_cpu_per_request_vs_single"] = ratio(
            t["server_cpu_ms_per_request"], s["server_cpu_ms_per_request"]
        )
        result["release_95pct_seconds_vs_single"] = ratio(
            t["seconds_to_95pct_devices"], s["seconds_to_95pct_devices"]
        )
    result["environment"] = {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
