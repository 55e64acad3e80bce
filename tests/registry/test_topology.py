"""The fleet topology with real parts: PostgreSQL 15, nginx, `litefleet serve --workers 2`,
and three real agents whose only server URL is nginx.

    agents ──► nginx ──► metadata/, targets/ from the repository folder
                    └──► /v1/ ──► 2 API workers ──► PostgreSQL (events, halt decisions)

Install v1, update to v2; a bad v3 fails every device's health gate and, with twelve more
enrolled devices reporting the same at once (through both workers), is paused exactly once
(one signature of the rollout role, one `halts` row with one pause); an operator's resume is
respected by both workers; every event sent is in PostgreSQL.

Needs `initdb`/`pg_ctl` (PostgreSQL) and `nginx` on the machine: `.ci/run` installs them with
apt-get; without them the test is skipped and says which is missing.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from litefleet.device.agent import Agent
from litefleet.device.telemetry import TelemetryQueue
from litefleet.registry.db import events
from litefleet.registry.deploy import NginxSite, write_nginx
from litefleet.registry.rollout import change_rollout, read_rollout
from litefleet.registry.server import WORKER_HEADER
from litefleet.registry.tokens import DeviceTokens
from litefleet.testing.lab import MODEL, Lab
from litefleet.testing.operators import operator_headers
from litefleet.testing.services import (
    NginxServer,
    PostgresServer,
    free_port,
    missing,
    stop_process,
    wait_for_port,
)

AGENTS = ("cam-a", "cam-b", "cam-c")
OTHERS = tuple(f"fleet-{i}" for i in range(12))

pytestmark = pytest.mark.skipif(
    bool(missing()), reason=f"fleet topology needs {', '.join(missing())} (see .ci/run)"
)


@pytest.fixture
def topology(tmp_path: Path):
    with Lab(tmp_path / "lab") as lab, PostgresServer(tmp_path / "pg") as pg:
        lab.publish("v1", 1)
        api_port, web_port, ops_port = free_port(), free_port(), free_port()
        api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "litefleet",
                "serve",
                str(lab.repo.path),
                "--port",
                str(api_port),
                "--workers",
                "2",
                "--db",
                pg.url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        try:
            wait_for_port(api_port, timeout=120, proc=api)
            conf = write_nginx(
                NginxSite(
                    repo=lab.repo.path,
                    listen=f"127.0.0.1:{web_port}",
                    operator_listen=f"127.0.0.1:{ops_port}",
                    api=f"http://127.0.0.1:{api_port}",
                    prefix=tmp_path / "nginx",
                    user="root" if os.geteuid() == 0 else None,
                )
            )
            with NginxServer(conf, web_port) as web:
                yield lab, pg, web, f"http://127.0.0.1:{ops_port}"
        finally:
            stop_process(api)


def _workers_answering(
    url: str, headers: dict[str, str], rounds: int = 60, burst: int = 16
) -> set[str]:
    """Bursts of concurrent /v1/halts through nginx until both worker pids have answered
    (the two processes share one socket: concurrent connections spread over them)."""
    seen: set[str] = set()

    def one(_: int) -> str:
        return httpx.get(f"{url}/v1/halts", timeout=60, headers=headers).headers[WORKER_HEADER]

    with ThreadPoolExecutor(burst) as pool:
        for _ in range(rounds):
            seen.update(pool.map(one, range(burst)))
            if len(seen) >= 2:
                break
            time.sleep(0.5)  # a worker may still be starting
    return seen


def test_nginx_two_workers_postgres_three_agents(topology, monkeypatch, tmp_path):
    lab, pg, web, ops = topology  # ops: nginx's operator listener (fleet, halts, metrics)
    accepted = [0]
    real_flush = TelemetryQueue.flush

    def counting_flush(self, *args, **kwargs):  # what each queue says the server accepted
        sent = real_flush(self, *args, **kwargs)
        accepted[0] += sent
        return sent

    monkeypatch.setattr(TelemetryQueue, "flush", counting_flush)
    homes = {}
    for name in AGENTS:
        homes[name] = tmp_path / "devices" / name
        from litefleet.device.home import init_home

        init_home(
            homes[name],
            server=web.url,
            root=lab.trusted_root,
            model=MODEL,
            device_id=name,
            token=lab.token_for(name),
        )

    def check_all() -> dict[str, object]:
        return {n: Agent(h).check() for n, h in homes.items()}

    assert len(_workers_answering(ops, operator_headers(lab.repo))) == 2, (
        "nginx reaches only one API worker"
    )
    assert {r.active_version for r in check_all().values()} == {1}
    lab.publish("v2", 2)
    assert {r.active_version for r in check_all().values()} == {2}

    # a bad v3: every agent's health gate refuses it (too few to halt: 3 of 5 needed to
    # have tried it); then twelve more enrolled devices report it at once
    signed_before = lab.repo.load("rollout").signed.version
    lab.publish(lab.build("bad", golden_from="v1", variants=("float32",)), 3, allow_regression=True)
    tokens = DeviceTokens(lab.repo.keys.path).issue_many(OTHERS)
    workers: list[str] = []
    sent_direct = [0]

    stamps = itertools.count()

    def report(device: str) -> None:
        # a new event each time (the server stores a replayed event once: issue 20)
        at = 1e9 + next(stamps)
        body = {"events": [{"type": "health_failed", "model": MODEL, "version": 3, "time": at}]}
        with httpx.Client(timeout=60) as client:
            r = client.post(
                f"{web.url}/v1/devices/{device}/events",
                json=body,
                headers={"Authorization": f"Bearer {tokens[device]}", "Connection": "close"},
            )
        assert r.status_code == 202, r.text
        sent_direct[0] += 1
        workers.append(r.headers[WORKER_HEADER])

    results = check_all()
    assert {r.action for r in results.values()} == {"rejected"}
    assert {r.active_version for r in results.values()} == {2}
    assert read_rollout(lab.repo, MODEL).rollouts[3].status == "active"  # 3 < 5 tried
    threads = [threading.Thread(target=report, args=(d,)) for d in OTHERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_rollout(lab.repo, MODEL).rollouts[3].status == "paused"
    assert lab.repo.load("rollout").signed.version == signed_before + 2, (
        "publish signs the rollout once, the pause once: nothing more"
    )
    halts = httpx.get(f"{ops}/v1/halts", headers=operator_headers(lab.repo)).json()
    assert [(h["version"], h["state"], h["pauses"]) for h in halts] == [(3, "paused", 1)]
    assert len(set(workers)) == 2, f"the failure reports reached only workers {set(workers)}"
    workers.clear()

    # the operator resumes: both workers see it, and repeated failures do not pause again
    change_rollout(lab.repo, MODEL, 3, "resume", reason="operator: investigate")
    check_all()
    threads = [threading.Thread(target=report, args=(d,)) for d in OTHERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(workers)) == 2, f"after the resume, reports reached only {set(workers)}"
    assert read_rollout(lab.repo, MODEL).rollouts[3].status == "active"
    for _ in range(40):  # each worker answers from the shared database
        r = httpx.get(f"{ops}/v1/halts", timeout=60, headers=operator_headers(lab.repo))
        assert [(h["state"], h["pauses"]) for h in r.json()] == [("resumed", 1)]

    # every event sent is in PostgreSQL (agents' queues are empty: nothing held back)
    for home in homes.values():
        assert TelemetryQueue(home, None, "x").pending() == []
    engine = create_engine(pg.url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
    engine.dispose()
    assert stored == accepted[0] + sent_direct[0]
    metrics = httpx.get(f"{ops}/metrics", headers=operator_headers(lab.repo)).text
    assert "litefleet_auto_halts 1.0" in metrics
