"""How long an operator's pause takes to reach the online fleet, with and without push (JSON).

    python benchmarks/bench_push.py [--devices 2000] [--poll 30] [--connections 256]

Real pieces: `litefleet serve` (one process, SQLite) on a repository with a published
release, Mosquitto 2 (Debian package) configured by `litefleet deploy mosquitto` (every
simulated device has its own broker account and the ACLs of a real fleet), the real
`change_rollout` (signs the pause, then publishes the nudge).

Simulated devices (one asyncio task each, in this process): with push, each holds its own
MQTT connection (aiomqtt) subscribed to its model topic; on the nudge it fetches the new
signed state from the server at once (a pause is `urgency: now`: no jitter). Without push,
each polls `timestamp.json` every `--poll` s (a random phase per device, as a fleet's
jitter spreads them) and fetches the chain when the timestamp changed. "Fetched" means the
device GOT the new timestamp, snapshot, rollout metadata and the rollout target from the
server and read `paused` in it (no signature check: the device's TUF verification is
measured in bench_verify.py). HTTP goes through one aiohttp session of `--connections`
keep-alive connections.

Reported: seconds from the operator's pause to 50/95/100 % of connected devices having the
paused state, for each mode; CPU seconds and peak RSS of the broker and of the server in
each window; the broker's RSS holding N idle connections; requests served. The generator
shares the 2 cores with both servers (`generator_cpu_s`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import aiomqtt
import psutil

from litefleet.nudge import model_topic, mqtt_password
from litefleet.registry.deploy import NginxSite, write_nginx
from litefleet.registry.mosquitto import write_mosquitto
from litefleet.registry.rollout import change_rollout
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.lab import MODEL, Lab
from litefleet.testing.services import (
    MosquittoServer,
    NginxServer,
    free_port,
    mosquitto_site,
    wait_for_port,
)


class Operator:
    """The operator's `change_rollout` in a process of its own (as the CLI would be), forked
    before the load starts: the pause is signed and nudged off the generator's GIL."""

    def __init__(self, repo: Path, model: str) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=self._serve, args=(child, repo, model), daemon=True)
        self.proc.start()

    @staticmethod
    def _serve(conn, repo: Path, model: str) -> None:
        from litefleet.registry.repository import Repository

        while (msg := conn.recv()) is not None:
            version, action = msg
            r = Repository(repo)  # made by the parent after the fork
            t0 = time.monotonic()
            change_rollout(r, model, version, action)
            conn.send(time.monotonic() - t0)

    def change(self, version: int, action: str) -> float:
        """Seconds to sign the change and hand the nudge to the broker."""
        self.conn.send((version, action))
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.proc.join(10)


class Peak:
    """CPU seconds and peak RSS of some processes over a window (sampled every 0.1 s)."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self.procs = procs
        self.cpu0 = {k: self._cpu(p) for k, p in procs.items()}
        self.rss = {k: self._rss(p) for k, p in procs.items()}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()

    @staticmethod
    def _tree(p: psutil.Process) -> list[psutil.Process]:
        return [p, *p.children(recursive=True)]  # nginx: master + workers

    def _cpu(self, p: psutil.Process) -> float:
        return sum(q.cpu_times().user + q.cpu_times().system for q in self._tree(p))

    def _rss(self, p: psutil.Process) -> int:
        return sum(q.memory_info().rss for q in self._tree(p))

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            for k, p in self.procs.items():
                self.rss[k] = max(self.rss[k], self._rss(p))

    def done(self) -> dict:
        self._stop.set()
        self._t.join()
        return {
            k: {
                "cpu_s": round(self._cpu(p) - self.cpu0[k], 2),
                "peak_rss_mb": round(self.rss[k] / 2**20, 1),
            }
            for k, p in self.procs.items()
        }


async def get_json(http: aiohttp.ClientSession, url: str, counter: list[int]) -> dict:
    async with http.get(url) as r:
        r.raise_for_status()
        counter[0] += 1
        return json.loads(await r.read())


async def fetch_state(http, base: str, model: str, version: int, counter: list[int]) -> tuple:
    """timestamp -> snapshot -> rollout metadata -> rollout target: (timestamp v, status)."""
    ts = await get_json(http, f"{base}/metadata/timestamp.json", counter)
    snap_v = ts["signed"]["meta"]["snapshot.json"]["version"]
    snap = await get_json(http, f"{base}/metadata/{snap_v}.snapshot.json", counter)
    ro_v = snap["signed"]["meta"]["rollout.json"]["version"]
    ro = await get_json(http, f"{base}/metadata/{ro_v}.rollout.json", counter)
    sha = ro["signed"]["targets"][f"{model}/rollout.json"]["hashes"]["sha256"]
    state = await get_json(http, f"{base}/targets/{model}/{sha}.rollout.json", counter)
    return ts["signed"]["version"], state["rollouts"][str(version)]["status"]


def percentiles(t0: float, done: list[float], n: int) -> dict:
    times = sorted(t - t0 for t in done)

    def at(share: float) -> float | None:
        k = max(1, round(share * n))
        return round(times[k - 1], 2) if len(times) >= k else None

    return {"p50_s": at(0.5), "p95_s": at(0.95), "p100_s": at(1.0), "reached": len(times)}


async def run_push(args, lab: Lab, base, broker_port: int, tokens: dict, procs, op) -> dict:
    model, version = lab.model, 1
    topic = model_topic(model)
    done: list[float] = []
    nudged: list[float] = []
    connected = asyncio.Semaphore(0)
    gate = asyncio.Semaphore(64)  # connect in waves (the listen backlog)
    stop = asyncio.Event()
    requests = [0]
    errors: list[str] = []
    conn = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def device(device_id: str) -> None:
            try:
                async with gate:
                    client = aiomqtt.Client(
                        "127.0.0.1",
                        broker_port,
                        username=device_id,
                        password=mqtt_password(tokens[device_id]),
                        identifier=f"bench-{device_id}",
                        keepalive=600,
                    )
                    await client.__aenter__()
                try:
                    await client.subscribe(topic, qos=1)
                    connected.release()
                    async for _message in client.messages:
                        nudged.append(time.monotonic())
                        # urgency "now": fetch at once; a real agent then verifies it
                        _, status = await fetch_state(http, base, model, version, requests)
                        if status == "paused":
                            done.append(time.monotonic())
                            break
                finally:
                    await client.__aexit__(None, None, None)
            except Exception as exc:  # counted, reported: must be 0
                errors.append(f"{type(exc).__name__}: {exc}")
                connected.release()

        tasks = [asyncio.create_task(device(d)) for d in tokens]
        t_conn = time.monotonic()
        for _ in tokens:
            await connected.acquire()
        connect_s = time.monotonic() - t_conn
        await asyncio.sleep(1.0)  # every SUBACK settled
        broker_idle_mb = procs["mosquitto"].memory_info().rss / 2**20
        peak = Peak(procs)
        t0 = time.monotonic()
        signed_s = await asyncio.to_thread(op.change, version, "pause")
        deadline = t0 + args.timeout
        while len(done) < len(tokens) - len(errors) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        window = time.monotonic() - t0
        usage = peak.done()
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "mode": "push",
        "devices_connected": len(tokens) - len(errors),
        "connect_all_s": round(connect_s, 1),
        "broker_rss_mb_with_idle_connections": round(broker_idle_mb, 1),
        "pause_signed_and_nudged_s": round(signed_s, 3),
        **percentiles(t0, done, len(tokens) - len(errors)),
        "nudge_received": percentiles(t0, nudged, len(tokens) - len(errors)),
        "window_s": round(window, 1),
        "requests": requests[0],
        "usage": usage,
        "errors": errors[:5],
        "error_count": len(errors),
    }


async def run_poll(args, lab: Lab, base: str, devices: list[str], procs, op) -> dict:
    model, version = lab.model, 1
    done: list[float] = []
    requests = [0]
    errors: list[str] = []
    conn = aiohttp.TCPConnector(limit=args.connections)
    rng = random.Random(7)
    async with aiohttp.ClientSession(connector=conn) as http:
        _, status = await fetch_state(http, base, model, version, requests)
        assert status == "active", status
        async with http.get(f"{base}/metadata/timestamp.json") as r:
            known = json.loads(await r.read())["signed"]["version"]
        started = time.monotonic()

        async def device(phase: float) -> None:
            nxt = started + phase
            while True:
                await asyncio.sleep(max(0.0, nxt - time.monotonic()))
                nxt += args.poll
                try:
                    ts = await get_json(http, f"{base}/metadata/timestamp.json", requests)
                    if ts["signed"]["version"] == known:
                        continue
                    _, status = await fetch_state(http, base, model, version, requests)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if status == "paused":
                    done.append(time.monotonic())
                    return

        tasks = [asyncio.create_task(device(rng.uniform(0, args.poll))) for _ in devices]
        await asyncio.sleep(args.poll)  # steady state: every device has polled once
        peak = Peak(procs)
        before = requests[0]
        t0 = time.monotonic()
        await asyncio.to_thread(op.change, version, "pause")
        deadline = t0 + args.poll * 3 + args.timeout
        while len(done) < len(devices) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        window = time.monotonic() - t0
        usage = peak.done()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "mode": f"poll every {args.poll:g} s (random phase)",
        "devices": len(devices),
        **percentiles(t0, done, len(devices)),
        "window_s": round(window, 1),
        "requests": requests[0] - before,
        "usage": usage,
        "errors": errors[:5],
        "error_count": len(errors),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--poll", type=float, default=30.0, help="Poll interval without push (s).")
    ap.add_argument("--connections", type=int, default=256, help="HTTP keep-alive connections.")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--skip-poll", action="store_true")
    ap.add_argument(
        "--nginx", action="store_true", help="Devices fetch through nginx (deploy nginx)."
    )
    args = ap.parse_args()
    me = psutil.Process()
    gen0 = me.cpu_times()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp_name:
        tmp = Path(tmp_name)
        op = Operator(tmp / "lab" / "repo", MODEL)  # forked before any thread starts
        lab = Lab(tmp / "lab").__enter__()
        try:
            lab.publish("v1", 1)
            ids = [f"dev-{i:05d}" for i in range(args.devices)]
            tokens = DeviceTokens(lab.repo.keys.path).issue_many(ids, "bench")
            port = free_port()
            site = mosquitto_site(lab.repo.keys.path, tmp / "mosquitto", port)
            http_port = free_port()
            serve = [sys.executable, "-m", "litefleet", "serve", str(lab.repo.path)]
            server = subprocess.Popen(
                [*serve, "--port", str(http_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_port(http_port, timeout=120, proc=server)
            base = f"http://127.0.0.1:{http_port}"
            results = {}
            with contextlib.ExitStack() as stack:
                broker = stack.enter_context(MosquittoServer(write_mosquitto(site), port))
                procs = {
                    "mosquitto": psutil.Process(broker.proc.pid),
                    "litefleet_serve": psutil.Process(server.pid),
                }
                if args.nginx:  # the fleet topology: nginx serves the signed files from disk
                    web_port = free_port()
                    conf = write_nginx(
                        NginxSite(
                            repo=lab.repo.path,
                            listen=f"127.0.0.1:{web_port}",
                            operator_listen=f"127.0.0.1:{free_port()}",
                            api=base,
                            prefix=tmp / "nginx",
                            user="root" if os.geteuid() == 0 else None,
                        )
                    )
                    web = stack.enter_context(NginxServer(conf, web_port))
                    procs["nginx"] = psutil.Process(web.proc.pid)
                    base = web.url
                results["push"] = asyncio.run(run_push(args, lab, base, port, tokens, procs, op))
                op.change(1, "resume")
                if not args.skip_poll:
                    results["poll"] = asyncio.run(run_poll(args, lab, base, ids, procs, op))
            op.close()
            server.terminate()
            server.wait(30)
        finally:
            lab.__exit__(None, None, None)
    gen1 = me.cpu_times()
    push, poll = results["push"], results.get("poll")
    out = {
        "bench": "push",
        "devices": args.devices,
        "front": "nginx (litefleet deploy nginx)" if args.nginx else "litefleet serve alone",
        "cpus": os.cpu_count(),
        **results,
        "generator_cpu_s": round(gen1.user + gen1.system - gen0.user - gen0.system, 1),
    }
    if poll and push["p95_s"] and poll["p95_s"]:
        out["poll_vs_push_p95"] = round(poll["p95_s"] / push["p95_s"], 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
