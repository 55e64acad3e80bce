"""SIGKILL the agent at every step of an update, many times: the store always recovers.

Each round copies a device home that runs v2 (v1 kept as previous), starts an agent process
that updates to v3 (a bsdiff patch, then garbage collection of v1), and kills it: either at
a named crash point (`LITEFLEET_CRASH_AT`, the agent SIGKILLs itself there) or after a
random delay. After each kill the store must open consistent, its active model must
predict, and the next check must finish the update.

Agent processes fork from a `forkserver` that preloaded the device modules, so a round
costs milliseconds of start-up instead of a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import time

import numpy as np

from litefleet.device.agent import Agent
from litefleet.device.crashpoints import ENV, POINTS
from litefleet.device.runtime import ModelRuntime
from litefleet.device.store import ModelStore, sha256_file

ROUNDS_PER_POINT = 6
RANDOM_KILLS = 12


def _child(home: str, crash_at: str) -> None:
    if crash_at:
        os.environ[ENV] = crash_at
    Agent(home).check(flush_telemetry=False)


def _assert_consistent(home, x, y) -> int:
    store = ModelStore(home)  # runs recovery
    st = store.state()
    assert st.active is not None
    assert store.active_version() == st.active
    assert st.active in store.installed() and (
        st.previous is None or st.previous in store.installed()
    )
    m = store.manifest(st.active)
    assert sha256_file(store.model_path(st.active)) == m.sha256
    leftovers = [p for p in (home / "versions").iterdir() if p.name.startswith(".tmp")]
    assert not leftovers, leftovers
    rt = ModelRuntime(home)
    out = rt.predict(x)
    assert np.isfinite(out).all() and (out.argmax(1) == y).mean() > 0.9
    return st.active


def test_sigkill_at_random_points_of_an_update(registry, device, build, data, tmp_path):
    x, y = data[0][:20], data[1][:20]
    registry.publish(build("v1"), 1)
    template = device("template", keep=2)
    Agent(template).check()
    registry.publish(build("v2"), 2)
    Agent(template).check()
    registry.publish(build("v3"), 3)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        [
            "litefleet.device.agent",
            "tuf.ngclient",
            "numpy",
            "ai_edge_litert.interpreter",
            "bsdiff4",
            "httpx",
        ]
    )

    def fresh_home(i: int):
        home = tmp_path / f"round{i}"
        shutil.copytree(template, home, symlinks=True)
        return home

    # an uninterrupted update: how long one takes, and that it does what we kill
    home = fresh_home(0)
    t0 = time.perf_counter()
    p = ctx.Process(target=_child, args=(str(home), ""))
    p.start()
    p.join(60)
    full = time.perf_counter() - t0
    assert p.exitcode == 0
    assert ModelStore(home).state().active == 3 and ModelStore(home).installed() == [2, 3]

    rng = random.Random(4)
    plan = [(pt, None) for pt in POINTS for _ in range(ROUNDS_PER_POINT)]
    plan += [("", rng.uniform(0.0, 0.8 * full)) for _ in range(RANDOM_KILLS)]
    killed, outcomes = 0, {2: 0, 3: 0}
    for i, (point, delay) in enumerate(plan, start=1):
        home = fresh_home(i)
        p = ctx.Process(target=_child, args=(str(home), point))
        p.start()
        if delay is not None:
            time.sleep(delay)
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
        p.join(60)
        if p.exitcode == -signal.SIGKILL:
            killed += 1
        else:
            assert p.exitcode == 0, (point, p.exitcode)
        outcomes[_assert_consistent(home, x, y)] += 1
        r = Agent(home).check(flush_telemetry=False)
        assert r.completed and r.active_version == 3, (point, delay, r)
        _assert_consistent(home, x, y)
        shutil.rmtree(home)
    print(f"{killed} SIGKILLs of {len(plan)} rounds; active after kill: {outcomes}")
    assert killed >= 50, f"only {killed} rounds were really killed"
    assert outcomes[2] and outcomes[3], "kills landed both before and after the switch"
