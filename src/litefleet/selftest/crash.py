"""Power cuts: SIGKILL the agent at every named step of an update and at random instants.

Each round copies a device home that runs v2 (v1 kept), starts an agent process that
updates to v3 (a bsdiff patch, the health gate, activation, garbage collection of v1) and
kills it: at a crash point (`LITEFLEET_CRASH_AT`: download, patch, gate, install,
activation, gc) or after a random delay. After each kill the store must open consistent
with a model that predicts, and the next check must finish the update.

Agents fork from a `forkserver` that preloaded the device modules, so a round costs
milliseconds of start-up instead of a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import shutil
import signal
import time

from litefleet.device.agent import Agent
from litefleet.device.crashpoints import ENV, POINTS
from litefleet.device.store import ModelStore
from litefleet.selftest.tally import Tally
from litefleet.testing.lab import Lab

SCENARIO = "crash injection (SIGKILL)"
PRELOAD = ["litefleet.device.agent", "tuf.ngclient", "numpy", "ai_edge_litert.interpreter"]


def check_in_child(home: str, crash_at: str) -> None:
    """One `agent check` in a child process, set to die at `crash_at` ("": not at all)."""
    if crash_at:
        os.environ[ENV] = crash_at
    Agent(home).check(flush_telemetry=False)


def run(lab: Lab, tally: Tally | None = None, per_point: int = 2, random_kills: int = 6) -> Tally:
    tally = tally or Tally(SCENARIO)
    lab.publish("v1", 1)
    template = lab.device("crash-template", direct=True, keep=2)
    Agent(template).check()
    lab.publish("v2", 2)
    Agent(template).check()
    lab.publish("v3", 3)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)

    def fresh(i: int):
        home = template.parent / f"crash-{i}"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(template, home, symlinks=True)
        return home

    home = fresh(0)  # one uninterrupted update: how long it takes, what we will cut
    t0 = time.perf_counter()
    p = ctx.Process(target=check_in_child, args=(str(home), ""))
    p.start()
    p.join(120)
    full = time.perf_counter() - t0
    if p.exitcode != 0 or ModelStore(home).state().active != 3:
        raise RuntimeError(f"the uninterrupted update failed (exit {p.exitcode})")
    rng = random.Random(4)
    plan: list[tuple[str, float | None]] = [(pt, None) for pt in POINTS for _ in range(per_point)]
    plan += [("", rng.uniform(0.0, 0.9 * full)) for _ in range(random_kills)]
    rng.shuffle(plan)
    for i, (point, delay) in enumerate(plan, start=1):
        home = fresh(i)
        p = ctx.Process(target=check_in_child, args=(str(home), point))
        p.start()
        if delay is not None:
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):  # it may just have finished
                os.kill(p.pid, signal.SIGKILL)
        p.join(120)
        name = point or "random instant"
        if p.exitcode == -signal.SIGKILL:
            tally.note("killed")
        elif p.exitcode != 0:
            tally.trial(name, False, f"agent exit code {p.exitcode}")
            continue
        bad = lab.store_problem(home)
        if not bad:
            tally.note(f"active after kill: v{ModelStore(home).active_version()}")
            r = Agent(home).check(flush_telemetry=False)
            bad = lab.store_problem(home, expect=3) or (
                "" if r.completed else f"next check: {r.action} {r.reason}"
            )
        tally.trial(name, not bad, bad)
        shutil.rmtree(home, ignore_errors=True)
    return tally
