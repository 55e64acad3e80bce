"""The update server on loopback: requests per second from N concurrent clients (JSON).

    python benchmarks/bench_server.py [--clients 32] [--seconds 5]

The real server (`uvicorn --factory litefleet.registry.server:app_from_env`) runs in its own
process on 127.0.0.1; asyncio httpx clients with keep-alive hammer it for a fixed time:
`GET /healthz` (the framework baseline), `GET /metadata/timestamp.json`, a 70 KB model file
from `/targets/`, and `POST` telemetry batches of 20 events (stored in SQLite).
`*_ratio` = the figure's requests per second / `/healthz` requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from litefleet.registry.repository import Repository
from litefleet.registry.server import SETTINGS_ENV, ServerSettings
from litefleet.registry.telemetry import TelemetryStore
from litefleet.registry.tokens import DeviceTokens

MODEL_BYTES = 70_000
BATCH = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repository.init(Path(tmp) / "repo")
        with repo.transaction(roles=("targets",)) as tx:
            info = tx.add_target("bench/1/model.tflite", os.urandom(MODEL_BYTES))
        tokens = DeviceTokens(repo.keys.path).issue_many(f"device-{i}" for i in range(args.clients))
        # one client is one device sending as fast as it can: no per-device rate limit here
        settings = ServerSettings(repo=repo.path, device_rate=1e9, device_burst=10**9)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "litefleet.registry.server:app_from_env",
             "--factory", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning", "--no-access-log"],
            env={**os.environ, SETTINGS_ENV: settings.to_env()},
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(base)
            model_url = f"/targets/bench/1/{info.hashes['sha256']}.model.tflite"
            runs = {
                "healthz": ("GET", "/healthz", None),
                "timestamp": ("GET", "/metadata/timestamp.json", None),
                "model": ("GET", model_url, None),
                "telemetry": ("POST", "/v1/devices/{i}/events", tokens),
            }
            rps = {
                name: asyncio.run(_hammer(base, method, path, auth, args.clients, args.seconds))
                for name, (method, path, auth) in runs.items()
            }
        finally:
            server.terminate()
            server.wait(timeout=10)
        stored = TelemetryStore(f"sqlite:///{repo.path}/telemetry.db").count_events()
    result = {
        "benchmark": "server",
        "clients": args.clients,
        "seconds_per_run": args.seconds,
        "requests_per_s": {k: round(v, 1) for k, v in rps.items()},
        "timestamp_ratio": round(rps["timestamp"] / rps["healthz"], 3),
        "model_ratio": round(rps["model"] / rps["healthz"], 3),
        "model_mb_per_s": round(rps["model"] * MODEL_BYTES / 1e6, 1),
        "telemetry_events_per_s": round(rps["telemetry"] * BATCH, 1),
        "telemetry_ratio": round(rps["telemetry"] / rps["healthz"], 3),
        "events_stored": stored,
        "environment": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": str(os.cpu_count()),
        },
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


async def _hammer(
    base: str,
    method: str,
    path: str,
    tokens: dict[str, str] | None,
    clients: int,
    seconds: float,
) -> float:
    """Requests per second completed by `clients` concurrent keep-alive clients."""
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:

        async def worker(i: int) -> int:
            done = 0
            device = f"device-{i}"
            url = path.format(i=device)
            headers = {"Authorization": f"Bearer {tokens[device]}"} if tokens else {}
            while time.perf_counter() < deadline:
                if method == "GET":
                    resp = await client.get(url)
                else:
                    resp = await client.post(url, json=_batch(), headers=headers)
                resp.raise_for_status()
                done += 1
            return done

        started = time.perf_counter()
        counts = await asyncio.gather(*(worker(i) for i in range(clients)))
        return sum(counts) / (time.perf_counter() - started)


def _batch() -> dict:
    now = time.time()
    return {
        "events": [
            {
                "type": "heartbeat",
                "model": "bench",
                "version": 1,
                "time": now,
                "metrics": {"drift": 0.1},
            }
            for _ in range(BATCH)
        ]
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


if __name__ == "__main__":
    main()
