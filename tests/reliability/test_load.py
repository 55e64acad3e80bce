"""Load: 1,000 simulated devices (asyncio + aiohttp) check and report against one server
process (`litefleet serve`) at once. No errors, and every accepted event is in the DB."""

from __future__ import annotations

import asyncio
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time

import aiohttp
import httpx

from litefleet.registry.telemetry import TelemetryStore
from litefleet.registry.tokens import DeviceTokens
from litefleet.selftest.tally import Tally
from litefleet.testing.lab import MODEL
from litefleet.testing.operators import operator_headers

from .conftest import FULL, size

DEVICES = 1000
CHECK_EVERY_S = 10.0
REPORT_EVERY_S = 30.0
DEVICES_PER_SESSION = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _device(client, i, tokens, deadline, stats) -> None:
    """One device: check (timestamp, then snapshot) and report heartbeats until `deadline`."""
    rng = random.Random(i)
    headers = {"Authorization": f"Bearer {tokens[f'load-{i}']}"}  # its own token
    await asyncio.sleep(rng.uniform(0, min(CHECK_EVERY_S, deadline - time.monotonic())))
    next_report = time.monotonic() + rng.uniform(0, REPORT_EVERY_S if FULL else 2.0)
    first = True
    while time.monotonic() < deadline or first:
        try:
            async with client.get("/metadata/timestamp.json") as r:
                await r.read()
                stats["checks"] += 1
                if r.status != 200:
                    stats["errors"].append(f"timestamp {r.status}")
            if first or time.monotonic() >= next_report:
                n = rng.randint(1, 3)
                body = {
                    "events": [
                        {
                            "type": "heartbeat",
                            "model": MODEL,
                            "version": 1,
                            "time": time.time() + k,
                            "metrics": {"drift": 0.01},
                        }
                        for k in range(n)
                    ]
                }
                path = f"/v1/devices/load-{i}/events"
                async with client.post(path, json=body, headers=headers) as r:
                    if r.status == 202:
                        stats["events"] += (await r.json())["stored"]
                        stats["batches"] += 1
                    else:
                        stats["errors"].append(f"events {r.status}")
                next_report = time.monotonic() + REPORT_EVERY_S * rng.uniform(0.8, 1.2)
        except (TimeoutError, aiohttp.ClientError) as exc:
            stats["errors"].append(f"{type(exc).__name__}: {exc}")
        first = False
        wait = CHECK_EVERY_S * rng.uniform(0.8, 1.2)
        if time.monotonic() + wait > deadline:
            return
        await asyncio.sleep(wait)


async def _fleet(url, tokens, seconds, stats) -> None:
    """Every device on its own keep-alive connection, 50 devices per aiohttp session (one
    httpx pool of 1,000 connections cost the client ~25 s of CPU: its pool is scanned
    whole for every request, and httpcore looks for `sniffio` on every lock it makes)."""
    per = DEVICES_PER_SESSION
    sessions = [
        aiohttp.ClientSession(
            base_url=url,
            # an idle connection is dropped before uvicorn's 5 s keep-alive closes it: a
            # request on a connection the server is closing fails (seen at load 10)
            connector=aiohttp.TCPConnector(limit=per, limit_per_host=per, keepalive_timeout=2),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        for _ in range(-(-DEVICES // per))
    ]
    try:
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(_device(sessions[i // per], i, tokens, deadline, stats) for i in range(DEVICES))
        )
    finally:
        for session in sessions:
            await session.close()


def test_thousand_devices_against_one_server(lab, report):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * DEVICES:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8 * DEVICES), hard))
    lab.publish("v1", 1)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "litefleet", "serve", str(lab.repo.path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    url = f"http://127.0.0.1:{port}"
    tally = Tally(f"load: {DEVICES} devices, one server")
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        stored_before = TelemetryStore(f"sqlite:///{lab.repo.path}/telemetry.db").count_events()
        stats = {"checks": 0, "events": 0, "batches": 0, "errors": []}
        seconds = size(5, 60)
        t0 = time.monotonic()
        tokens = DeviceTokens(lab.repo.keys.path).issue_many(f"load-{i}" for i in range(DEVICES))
        # its own thread: a loop another test left running in this one cannot refuse it
        failed: list[BaseException] = []

        def drive() -> None:
            try:
                asyncio.run(_fleet(url, tokens, seconds, stats))
            except BaseException as exc:
                failed.append(exc)

        fleet = threading.Thread(target=drive)
        fleet.start()
        fleet.join()
        if failed:
            raise failed[0]
        took = time.monotonic() - t0
        fleet = httpx.get(f"{url}/v1/fleet", timeout=60, headers=operator_headers(lab.repo)).json()
    finally:
        proc.terminate()
        proc.wait(30)
    stored = TelemetryStore(f"sqlite:///{lab.repo.path}/telemetry.db").count_events()
    running = sum(r["running"] for r in fleet["releases"] if r["version"] == 1)
    for e in stats["errors"][:20]:
        tally.trial("request", False, e)
    tally.trial(
        f"{stats['checks']} checks, {stats['batches']} reports",
        not stats["errors"],
        f"{len(stats['errors'])} errors",
    )
    tally.trial(
        "no lost telemetry",
        stored - stored_before == stats["events"],
        f"stored {stored - stored_before}, accepted {stats['events']}",
    )
    tally.trial("fleet view counts every device", running == DEVICES, f"running {running}")
    tally.note("seconds", round(took))
    tally.note("requests/s", round((stats["checks"] + stats["batches"]) / took))
    tally.note("events stored", stats["events"])
    report.add(tally)
    assert tally.ok, tally.failures[:10]
