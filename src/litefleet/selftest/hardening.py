"""Crash loops and stuck servers: a device is never stuck retrying one release, and a
server that drips bytes never holds a check past its deadline nor a local command at all.

- crash loop: the agent is SIGKILLed while attempting a release (`LITEFLEET_CRASH_AT=
  gate.checked`, inside the attempt), `max_attempts` times; the next start must block the
  release, report it `rejected`, stay on its model, and not try it again.
- stuck server: the device's server answers one byte a second (in the body, or already in
  the headers); the check must end with `error` naming the timeout by its deadline, and an
  operator's `rollback` during the drip must complete within 2 s.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time

from litefleet.device.agent import Agent
from litefleet.device.config import load_config, save_config
from litefleet.device.store import ModelStore
from litefleet.selftest.crash import PRELOAD, check_in_child
from litefleet.selftest.tally import Tally
from litefleet.testing.drip import DripServer
from litefleet.testing.lab import Lab, app_traffic

CRASH_LOOP = "crash loop"
STUCK_SERVER = "stuck server"
ROLLBACK_BOUND_S = 2.0
"""The issue's bound: a rollback during a stuck check completes within 2 s."""


def crash_loop(lab: Lab, tally: Tally | None = None, rounds: int = 1, attempts: int = 2) -> Tally:
    tally = tally or Tally(CRASH_LOOP)
    lab.publish("v1", 1)
    home = lab.device("crash-loop", direct=True, max_attempts=attempts)
    if Agent(home).check().active_version != 1:
        raise RuntimeError("the good release did not install")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    with app_traffic(home, lab.x) as app:
        for r in range(rounds):
            version = r + 2
            lab.publish("v2", version)
            kills = 0
            for _ in range(attempts):
                p = ctx.Process(target=check_in_child, args=(str(home), "gate.checked"))
                p.start()
                p.join(300)
                kills += p.exitcode == -signal.SIGKILL
            result = Agent(home).check()
            again = Agent(home).check()
            st = ModelStore(home).state()
            bad = lab.store_problem(home, expect=1)
            if not bad and kills != attempts:
                bad = f"the agent was killed {kills} times, not {attempts}"
            if not bad and (result.action, result.version) != ("rejected", version):
                bad = f"after {attempts} deaths: {result.action} {result.version} {result.reason}"
            if not bad and "crash loop" not in result.reason:
                bad = f"reason does not say crash loop: {result.reason}"
            if not bad and version not in st.blocked:
                bad = "the release is not blocked"
            if not bad and again.action != "none":
                bad = f"the blocked release was tried again: {again.action} {again.reason}"
            tally.trial(f"killed {attempts}x while attempting: blocked", not bad, bad)
            tally.note("agent deaths counted", kills)
        if app["errors"]:
            tally.trial("app during crash loops", False, f"{app['errors']} failed predictions")
        tally.note("app predictions during crash loops", app["calls"])
    return tally


def stuck_server(lab: Lab, tally: Tally | None = None, rounds: int = 1) -> Tally:
    tally = tally or Tally(STUCK_SERVER)
    lab.publish("v1", 1)
    cases = [("body", r) for r in range(rounds)] + [("headers", r) for r in range(rounds)]
    homes = []
    for where, r in cases:
        home = lab.device(
            f"stuck-{where}-{r}", direct=True, metadata_deadline_s=2.0, check_deadline_s=6.0
        )
        Agent(home).check()
        homes.append(home)
    lab.publish("v2", 2)
    for home in homes:
        Agent(home).check()
    for (where, _), home in zip(cases, homes, strict=True):
        config = load_config(home)
        with DripServer(interval=1.0, where=where) as drip:
            save_config(home, config.model_copy(update={"server": drip.url}))
            box: dict = {}
            checker = threading.Thread(target=lambda h=home, b=box: b.update(r=Agent(h).check()))
            checker.start()
            drip.wait_for_connection(30)
            t0 = time.monotonic()
            rolled = Agent(home).rollback()
            rollback_s = time.monotonic() - t0
            checker.join(120)
        save_config(home, config)
        result = box.get("r")
        bad = lab.store_problem(home, expect=1)
        if not bad and rolled.active_version != 1:
            bad = f"rollback went to {rolled.active_version}"
        if not bad and rollback_s >= ROLLBACK_BOUND_S:
            bad = f"rollback took {rollback_s:.2f} s during the drip"
        if not bad and (result is None or result.action != "error"):
            bad = f"the check did not end in error: {result}"
        if not bad and "timed out" not in result.reason:
            bad = f"the error does not name the timeout: {result.reason}"
        if not bad and result.seconds > 6.0 + 3.0:
            bad = f"the check took {result.seconds:.1f} s, deadline 6 s"
        tally.trial(f"drip in the {where}: check times out, rollback free", not bad, bad)
        if not bad:
            tally.note(f"rollback during a drip under {ROLLBACK_BOUND_S:g} s")
    return tally
