"""Network faults between the agent and the server: down, 500s, slow, cut mid-download,
unresolvable host. The agent must keep its model, back off, resume a cut download with
HTTP Range, and install the release once the network is healthy again.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

from litefleet.device.agent import Agent, CheckResult
from litefleet.device.clock import ManualClock
from litefleet.device.config import load_config, save_config
from litefleet.device.policy import PeriodicPolicy
from litefleet.device.telemetry import TelemetryQueue
from litefleet.selftest.tally import Tally
from litefleet.testing import proxy as px
from litefleet.testing.lab import Lab
from litefleet.testing.proxy import AttackProxy

SCENARIO = "network faults"


def _recovered(lab: Lab, home: Path, first: CheckResult, fault_ok: tuple[str, ...]) -> str:
    """'' when the faulty check kept the store and the next, healthy one installed v1."""
    if first.action not in fault_ok:
        return f"under the fault: {first.action} {first.reason}"
    again = Agent(home).check()
    if again.active_version != 1:
        return f"did not recover: {again.action} {again.reason}"
    problem = lab.store_problem(home, expect=1)
    if problem:
        return problem
    if TelemetryQueue(home, None, "x").pending():
        return "telemetry still queued after recovery"
    return ""


def _fault_trial(
    lab: Lab, tally: Tally, name: str, fault: px.Fault, ok: tuple[str, ...], **settings
) -> None:
    home = lab.device(f"net-{len(tally.failures)}-{tally.trials}", **settings)
    lab.proxy.fault = fault
    try:
        first = Agent(home).check()
    finally:
        lab.proxy.fault = None
    bad = _recovered(lab, home, first, ok)
    tally.trial(name, not bad, bad)


@contextlib.contextmanager
def _server_down(lab: Lab):
    port = lab.proxy.port
    lab.proxy.__exit__(None, None, None)
    try:
        yield
    finally:
        lab.proxy = lab._stack.enter_context(AttackProxy(lab.server.url, port=port))


def run(lab: Lab, tally: Tally | None = None, rounds: int = 1) -> Tally:
    tally = tally or Tally(SCENARIO)
    lab.publish("v1", 1)
    for _ in range(rounds):
        _down_and_backoff(lab, tally)
        trials: list[tuple[str, px.Fault, tuple[str, ...], dict]] = [
            ("HTTP 500 on metadata", px.status(r"timestamp\.json$", 500), ("error",), {}),
            ("HTTP 500 on a model file", px.status(r"\.tflite$", 500), ("error",), {}),
            ("HTTP 503 then fine", px.status(r".", 503, times=1), ("error", "installed"), {}),
            ("slow responses within the timeout", px.slow(r".", 0.3), ("installed",), {}),
            (
                "slow responses beyond the timeout",
                px.slow(r"\.npz$", 2.5),
                ("error",),
                {"timeout_s": 1},
            ),
        ]
        for name, fault, ok, settings in trials:
            _fault_trial(lab, tally, name, fault, ok, **settings)
        _resume_trials(lab, tally)
        _dns_trial(lab, tally)
    return tally


def _down_and_backoff(lab: Lab, tally: Tally) -> None:
    """Server down for 4 checks on a virtual clock: waits double, then it recovers."""
    home = lab.device(f"down-{tally.trials}")
    clock = ManualClock()
    policy = PeriodicPolicy(interval=3600, retry_base=60, retry_max=3600, jitter=0.0)
    agent = Agent(home, clock=clock, policy=policy, rng=random.Random(1))
    state = policy.start(clock.now(), agent.rng)
    gaps, actions = [], []
    with _server_down(lab):
        for _ in range(4):
            clock.sleep(max(0.0, state.next_check - clock.now()))
            state, r = agent.step(state)
            if r is not None:
                actions.append(r.action)
                gaps.append(state.next_check - clock.now())
    clock.sleep(max(0.0, state.next_check - clock.now()))
    state, r = Agent(home, clock=clock, policy=policy).step(state)
    bad = ""
    if actions != ["error"] * 4:
        bad = f"while down: {actions}"
    elif gaps != sorted(gaps) or gaps[-1] < 4 * gaps[0]:
        bad = f"no backoff: waits {gaps}"
    elif r is None or r.active_version != 1:
        bad = f"did not recover: {r}"
    else:
        bad = lab.store_problem(home, expect=1)
    tally.trial("server down (backoff, then recovery)", not bad, bad)


def _resume_trials(lab: Lab, tally: Tally) -> None:
    # one cut: the fetcher resumes at once, in the same check
    before = len(lab.proxy.ranges)
    _fault_trial(
        lab,
        tally,
        "connection reset mid-download (resumed in the same check)",
        px.cut(r"\.npz$", 0.5, times=1),
        ("installed",),
    )
    if len(lab.proxy.ranges) > before:
        tally.note("downloads resumed with Range")
    # every try cut: the check fails, the bytes stay, the next check resumes from them
    home = lab.device(f"resume-{tally.trials}")
    lab.proxy.fault = px.cut(r"\.npz$", 0.5, ranges=True)
    try:
        first = Agent(home).check()
    finally:
        lab.proxy.fault = None
    parts = list((home / "downloads").glob("*.part"))
    before = len(lab.proxy.ranges)
    bad = _recovered(lab, home, first, ("error",))
    if not bad and not parts:
        bad = "no partial download kept after the failed check"
    if not bad and len(lab.proxy.ranges) == before:
        bad = "the next check did not resume with a Range request"
    if not bad and list((home / "downloads").glob("*.part")):
        bad = "partial file left after the download completed"
    if tally.trial("connection reset on every try (resumed by the next check)", not bad, bad):
        tally.note("downloads resumed with Range")


def _dns_trial(lab: Lab, tally: Tally) -> None:
    home = lab.device(f"dns-{tally.trials}")
    cfg = load_config(home)
    save_config(home, cfg.model_copy(update={"server": "http://no-such-host.invalid:8080"}))
    first = Agent(home).check()
    save_config(home, cfg)
    bad = _recovered(lab, home, first, ("error",))
    tally.trial("DNS failure (unresolvable host)", not bad, bad)
