"""`agent serve` against the server it replaced (the stdlib ThreadingHTTPServer of commit
bd564e2, `stdlib_serve.py`), same home, same model, same run; prints JSON.

A microsecond model (the 8-feature MLP of `litefleet.testing.tiny_models`) answers
single-sample `POST /v1/predict` requests over keep-alive loopback connections (the old
server answers HTTP/1.0 and closes each connection: the client reconnects, as any client
of it must, and counts `reconnects`):

- one client: p50/p99 latency and requests per second;
- eight clients (one asyncio client process, eight connections): throughput and p99, while
  the bench process switches the active version every 20 ms (hot swap): `failed` counts
  every answer that is not 200 (must be 0).

Rounds alternate old/new (`--rounds`, median reported) so both see the same machine load.
`server_cpu_us_per_request` is the server process's CPU time per answer: unlike latency it
does not grow when other work shares the cores.
Goals (issue 21): p99 <= 2 ms at one client, >= 3,000 req/s at eight.

    .venv/bin/python benchmarks/bench_serve.py [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

CLIENT = r"""
import asyncio, json, socket, sys, time
port, conns, seconds, body = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
req = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
       f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
lat, statuses, reconnects = [], {}, [0]

def closes(head):  # an HTTP/1.0 answer or Connection: close ends the connection
    return head.startswith(b"HTTP/1.0") or b"connection: close" in head.lower()

def length(head):
    return int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])

async def connect():
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return r, w

async def one(deadline):
    r, w = await connect()
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        w.write(req)
        head = await r.readuntil(b"\r\n\r\n")
        await r.readexactly(length(head))
        lat.append(time.perf_counter() - t)
        status = int(head[9:12])
        statuses[status] = statuses.get(status, 0) + 1
        if closes(head):
            w.close()
            r, w = await connect()
            reconnects[0] += 1
    w.close()

def blocking(deadline):
    def connect():
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s, s.makefile("rb")
    s, f = connect()
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        s.sendall(req)
        head = f.readline()
        while (line := f.readline()) != b"\r\n":
            head += line
        f.read(length(head))
        lat.append(time.perf_counter() - t)
        status = int(head[9:12])
        statuses[status] = statuses.get(status, 0) + 1
        if closes(head):
            s.close()
            s, f = connect()
            reconnects[0] += 1

start = time.perf_counter()
if conns == 1:
    blocking(start + seconds)
else:
    async def main():
        await asyncio.gather(*(one(start + seconds) for _ in range(conns)))
    asyncio.run(main())
wall = time.perf_counter() - start
lat.sort()
print(json.dumps({"requests": len(lat), "per_s": len(lat) / wall,
                  "p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[int(len(lat) * 0.99)] * 1e3,
                  "failed": sum(v for k, v in statuses.items() if k != 200),
                  "reconnects": reconnects[0]}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_home(root: Path) -> Path:
    """A device home with two versions of the tiny MLP installed, version 1 active."""
    from litefleet.device.store import Manifest, ModelStore
    from litefleet.drift import reference_stats
    from litefleet.litert import LoadedModel
    from litefleet.release import DRIFT_FILE
    from litefleet.testing import tiny_models
    from litefleet.testing.tiny_data import dataset

    x, _ = dataset()
    home = root / "home"
    store = ModelStore(home, keep=10)
    for version, name in ((1, "v1-float32"), (2, "v2-float32")):
        data = tiny_models.model(name)
        with store.staging() as stage:
            (stage / "float32.tflite").write_bytes(data)
            (stage / DRIFT_FILE).write_text(reference_stats(x[:400]).model_dump_json())
            store.commit(
                stage,
                Manifest(
                    model="bench",
                    version=version,
                    variant="float32",
                    file="float32.tflite",
                    precision="float32",
                    sha256=hashlib.sha256(data).hexdigest(),
                    bytes=len(data),
                    signature=LoadedModel(data).signature,
                    source="local",
                ),
            )
    store.activate(1)
    return home


def start(kind: str, home: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "stdlib":
        cmd = [sys.executable, str(HERE / "stdlib_serve.py"), str(home), str(port)]
    else:
        cmd = [sys.executable, "-m", "litefleet", "agent", "serve", "--home", str(home)]
        cmd += ["--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                why = proc.stderr.read().decode()[-500:]
                raise SystemExit(f"{kind} server died: {why}") from None
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{kind} server did not start")


def load(port: int, conns: int, seconds: float, body: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), str(conns), str(seconds), body],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"load client failed: {out.stderr[-800:]}")
    return json.loads(out.stdout)


def swapping(home: Path, stop: threading.Event, every: float = 0.02) -> threading.Thread:
    from litefleet.device.store import ModelStore

    store = ModelStore(home, keep=10)

    def loop() -> None:
        i = 0
        while not stop.wait(every):
            i += 1
            store.activate(2 if i % 2 else 1)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): a figure the machine's other load
    does not inflate, unlike latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(proc: subprocess.Popen, port: int, conns: int, seconds: float, body: str) -> dict:
    cpu = cpu_seconds(proc.pid)
    out = load(port, conns, seconds, body)
    out["server_cpu_us_per_request"] = (cpu_seconds(proc.pid) - cpu) / out["requests"] * 1e6
    return out


def one_round(kind: str, home: Path, seconds: float, body: str) -> dict:
    proc, port = start(kind, home)
    try:
        load(port, 1, 0.5, body)  # warm-up
        single = measured(proc, port, 1, seconds, body)
        stop = threading.Event()
        swapper = swapping(home, stop)
        try:
            eight = measured(proc, port, 8, seconds, body)
        finally:
            stop.set()
            swapper.join()
        return {"one_client": single, "eight_clients_hot_swap": eight}
    finally:
        proc.terminate()
        proc.wait(10)


def median_of(rounds: list[dict]) -> dict:
    out: dict = {}
    for part in rounds[0]:
        out[part] = {
            k: round(statistics.median(r[part][k] for r in rounds), 3) for k in rounds[0][part]
        }
        out[part]["failed"] = sum(r[part]["failed"] for r in rounds)
        out[part]["reconnects"] = sum(r[part]["reconnects"] for r in rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from litefleet.testing.tiny_data import dataset

    x, _ = dataset()
    body = json.dumps({"inputs": np.round(x[0], 4).tolist()})
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp))
        results: dict[str, list[dict]] = {"stdlib": [], "lean": []}
        for _ in range(args.rounds):
            for kind in ("stdlib", "lean"):
                results[kind].append(one_round(kind, home, args.seconds, body))
    old, new = median_of(results["stdlib"]), median_of(results["lean"])
    one, eight = new["one_client"], new["eight_clients_hot_swap"]
    report = {
        "stdlib_server": old,
        "agent_serve": new,
        "ratios": {
            "one_client_per_s": round(one["per_s"] / old["one_client"]["per_s"], 2),
            "one_client_p99": round(one["p99_ms"] / old["one_client"]["p99_ms"], 3),
            "eight_clients_per_s": round(
                eight["per_s"] / old["eight_clients_hot_swap"]["per_s"], 2
            ),
            "eight_clients_p99": round(
                eight["p99_ms"] / old["eight_clients_hot_swap"]["p99_ms"], 3
            ),
            "server_cpu_per_request": round(
                eight["server_cpu_us_per_request"]
                / old["eight_clients_hot_swap"]["server_cpu_us_per_request"],
                3,
            ),
        },
        "goals": {
            "one_client_p99_le_2ms": one["p99_ms"] <= 2.0,
            "eight_clients_ge_3000_per_s": eight["per_s"] >= 3000,
            "hot_swap_failed_0": eight["failed"] == 0,
        },
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "seconds": args.seconds,
        "rounds": args.rounds,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
