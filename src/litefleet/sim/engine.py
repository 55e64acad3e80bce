"""The event loop: thousands of devices, each driven by the real policy object, on a virtual clock.

Each device sleeps until its policy's `next_check` (a heap of wake-up times, no per-minute
stepping) and then does what `litefleet.device.agent.Agent.step` does: probation verdict
(`litefleet.device.probation.probation_verdict`), `policy.due`, a check that asks
`litefleet.device.selection.choose_release`, plans a patch or a full file with
`litefleet.device.patch_or_full.plan`, asks `policy.may_download` with the `Conditions` of its
trace, gates, activates, and hands the outcome to `policy.after`. Only while a device runs a
bad release (its feedback moves) or is on probation does it also wake every `tick_minutes`,
as the agent's loop looks at its feedback between checks.

    traces = make_traces(cfg, releases=5)
    metrics = FleetRun(cfg, traces, cfg.runs[0]).run()   # -> RunMetrics
"""

from __future__ import annotations

import copy
import heapq
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from litefleet.device import patch_or_full
from litefleet.device.conditions import Conditions
from litefleet.device.policy import Outcome, Policy, PolicyState, make_policy
from litefleet.device.probation import Probation, ProbationRules, probation_verdict
from litefleet.device.profile import DeviceProfile, rank_variants
from litefleet.device.selection import Choice, choose_release
from litefleet.drift import Feedback
from litefleet.release import variant_path
from litefleet.sim.config import RunConfig, SimConfig
from litefleet.sim.metrics import RunMetrics
from litefleet.sim.server import DAY, SimServer
from litefleet.sim.traces import NETWORKS, NONE, Traces

KEEP = 3
"""Versions a device keeps on disk (the agent's default `keep`)."""
_ACTIVE_FILE = Path("active.tflite")
"""`patch_or_full.plan` wants the active model's path to offer a patch; the sim has no files."""


@dataclass(slots=True)
class Device:
    """One device's journal: what the agent's store and `agent.json` would hold."""

    idx: int
    device_id: str
    policy: Policy
    state: PolicyState
    active: int = 1
    previous: int | None = None
    highest: int = 1
    installed: list[int] = field(default_factory=lambda: [1])
    blocked: dict[int, str] = field(default_factory=dict)
    blocked_rev: int = 0
    activated_at: float = 0.0
    onset: float = math.inf
    """When the active release starts to misbehave on this device (inf: it never does)."""
    probation: Probation | None = None
    token: int = 0
    choice_key: tuple[int, int, int, int] | None = None
    choice: Choice | None = None
    plan: patch_or_full.Plan | None = None
    """The download plan for `choice` (same cache key)."""
    variant_of: dict[int, str] = field(default_factory=dict)
    """The variant installed of each version (several families: the stickiness runs)."""
    stale_since: float | None = None
    bad_since: float | None = None
    rate: float = 0.0
    """App predictions per second."""
    net: bytes = b""
    """Network code per hour (`traces.NONE`, `METERED`, `UNMETERED`): a fast row lookup."""


class FleetRun:
    """One strategy over the whole fleet; `run()` returns its `RunMetrics`."""

    def __init__(
        self,
        cfg: SimConfig,
        traces: Traces,
        run: RunConfig,
        policy: Policy | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.cfg, self.traces, self.spec = cfg, traces, run
        self.policy = policy or make_policy(run.strategy, **copy.deepcopy(run.policy))
        self.rules = ProbationRules(**cfg.probation)
        self.server = SimServer(cfg)
        self.rng = random.Random(cfg.seed)
        self.end = cfg.days * DAY
        self.tick = cfg.tick_minutes * 60.0
        self.variant = cfg.releases.variant
        self.profile = DeviceProfile(sticky_tolerance=run.sticky_tolerance)
        self.multi = len(cfg.releases.variants) > 1
        first = self.server.index.release(1)
        assert first is not None
        if self.multi:  # v1 runs everywhere: each device took the best variant of it
            self.variant = rank_variants(first, self.profile, Conditions())[0][0][0]
        self.low_battery = _low_battery_threshold()
        self.progress = progress
        self.m = RunMetrics(run.name, run.strategy, cfg.devices, self.end)
        self.bad = set(cfg.releases.bad_versions)
        rc = cfg.releases
        self._paths = {
            v: variant_path(rc.model, v, rc.variant) for v in range(1, len(rc.publish_days) + 2)
        }
        b = cfg.bad
        self._sick = (b.error_rate, b.drift, b.confidence)
        self._healthy = (b.healthy_error_rate, b.healthy_drift, b.healthy_confidence)
        self.devices = [
            Device(
                i,
                f"sim-{i:07d}",
                self.policy,
                PolicyState(),
                rate=float(traces.usage[i]) / 3600.0,
                net=traces.network[i].tobytes(),
            )
            for i in range(cfg.devices)
        ]
        self._heap: list[tuple[float, int, int]] = []

    # ------------------------------------------------------------------ the loop

    def run(self) -> RunMetrics:
        t0 = time.perf_counter()
        for d in self.devices:
            d.state = self.policy.start(0.0, self.rng)
            self._schedule(d, 0.0)
        heap, server, devices = self._heap, self.server, self.devices
        events = 0
        while heap:
            t, i, token = heap[0]
            ts = server.next_time()
            if ts <= t and ts <= self.end:
                if server.advance(ts):
                    self._fleet_changed(ts)
                continue
            if t > self.end:
                break
            heapq.heappop(heap)
            d = devices[i]
            if token != d.token:
                continue  # superseded by a later schedule
            events += 1
            self._wake(d, t)
            if self.progress and not events % 100_000:
                self.progress(t / self.end)
        self._close(self.end)
        self.m.events = events
        self.m.wall_seconds = time.perf_counter() - t0
        return self.m

    def _schedule(self, d: Device, now: float) -> None:
        t = d.state.next_check
        if d.probation is not None or d.active in self.bad:
            t = min(t, now + self.tick)
        d.token += 1
        heapq.heappush(self._heap, (max(t, now), d.idx, d.token))

    def _wake(self, d: Device, now: float) -> None:
        """`Agent.step`: probation first, then a check when the policy says it is due."""
        policy = self.policy
        if d.probation is not None:
            verdict, reason = probation_verdict(
                d.probation, self._feedback(d, now), now, self.rules
            )
            if verdict == "failed":
                self._rollback(d, now, None, reason)
                self.m.probation_rollbacks += 1
                d.state = policy.after(
                    d.state, now, "rolled_back", self._feedback(d, now), self.rng
                )
                self._schedule(d, now)
                return
            if verdict == "passed":
                d.probation = None
        feedback = self._feedback(d, now)
        if policy.due(d.state, now, feedback):
            outcome = self._check(d, now)
            d.state = policy.after(d.state, now, outcome, feedback, self.rng)
        self._schedule(d, now)

    # ------------------------------------------------------------------ one check

    def _check(self, d: Device, now: float) -> Outcome:
        """`Agent.check`: what the device does with the server's answer."""
        if d.net[int(now // 3600.0)] == NONE:
            self.m.offline_checks += 1
            return "error"  # unreachable: the agent backs off and retries
        self.m.checks.append(now)
        choice = self._choose(d)
        if choice.kind == "none" or choice.version is None:
            return "none"
        v = choice.version
        if v in d.installed and (v not in d.blocked or choice.kind == "back"):
            if choice.kind == "back":
                self._rollback(d, now, v, choice.reason)
                self.m.abort_rollbacks += 1
                return "rolled_back"
            self._activate(d, v, now)
            self.m.local_installs += 1
            return "installed"
        return self._install(d, v, now)

    def _install(self, d: Device, v: int, now: float) -> Outcome:
        plan = d.plan
        current = d.variant_of.get(d.active, self.variant)
        conditions = self.traces.conditions(d.idx, now)
        if self.multi:
            release = self.server.index.release(v)
            assert release is not None
            name, entry = rank_variants(release, self.profile, conditions, current=current)[0][0]
            plan = d.plan = patch_or_full.plan(entry, name, d.active, current, _ACTIVE_FILE)
        elif plan is None or plan.entry.path != self._paths[v]:
            release = self.server.index.release(v)
            assert release is not None
            entry = release.variants[self.variant]
            plan = d.plan = patch_or_full.plan(entry, self.variant, d.active, current, _ACTIVE_FILE)
        gate = self.policy.may_download(now, conditions, plan.size)
        if not gate.go:
            self.m.deferred += 1
            self.m.defer_reasons[_reason_key(gate.reason)] += 1
            return "deferred"
        low = not conditions.charging and conditions.battery_percent < self.low_battery
        self.m.download(conditions.network, "patch" if plan.patch else "full", plan.size, low)
        r = v - 1
        if self.server.is_bad(v) and self.traces.gate_draw[d.idx, r] < self.cfg.bad.gate_catch:
            d.blocked[v] = "health gate"
            d.blocked_rev += 1
            self.server.report(d.idx, v, "health_failed", now)
            self.m.rejected += 1
            self._stale(d, now)
            return "rejected"
        d.variant_of[v] = plan.entry.path.rsplit("/", 1)[-1].removesuffix(".tflite")
        self._activate(d, v, now)
        self.server.report(d.idx, v, "installed", now)
        self.m.installs += 1
        return "installed"

    def _choose(self, d: Device) -> Choice:
        """`choose_release` is pure: ask again only when its inputs changed."""
        key = (self.server.epoch, d.active, d.highest, d.blocked_rev)
        if key != d.choice_key or d.choice is None:
            d.choice = choose_release(
                self.server.index,
                self.server.rollout,
                device_id=d.device_id,
                channel="stable",
                active=d.active,
                highest=d.highest,
                blocked=d.blocked,
            )
            d.choice_key = key
            d.plan = None
        return d.choice

    # ------------------------------------------------------------------ the device's store

    def _activate(self, d: Device, v: int, now: float) -> None:
        self._transition(d, v, now)
        d.previous, d.active, d.highest = d.active, v, max(d.highest, v)
        if v not in d.installed:
            d.installed.append(v)
        while len(d.installed) > KEEP:
            d.installed.remove(min(x for x in d.installed if x not in (d.active, d.previous)))
        d.probation = self.rules.start(v, now)
        self._stale(d, now)

    def _rollback(self, d: Device, now: float, to: int | None, reason: str) -> None:
        """`Store.rollback`: back to `to` (or the previous version); the version left is blocked."""
        left = d.active
        if to is None:
            older = [v for v in d.installed if v < left and v not in d.blocked]
            to = d.previous if d.previous in d.installed else max(older, default=left)
        if to == left:
            return
        d.blocked[left] = reason
        d.blocked.pop(to, None)
        d.blocked_rev += 1
        self._transition(d, to, now)
        older = [v for v in d.installed if v < to and v not in d.blocked]
        d.active, d.previous, d.probation = to, max(older, default=None), None
        self.server.report(d.idx, left, "rolled_back", now)
        self._stale(d, now)

    def _transition(self, d: Device, v: int, now: float) -> None:
        self.m.transitions.append((now, d.active, v))
        self._leave_bad(d, now)
        d.activated_at = now
        d.onset = math.inf
        if self.server.is_bad(v):
            d.bad_since = now
            r = v - 1
            late = self.traces.latent[d.idx, r]
            d.onset = now + (self.rules.seconds + self.traces.latent_delay[d.idx, r] if late else 0)

    def _feedback(self, d: Device, now: float) -> Feedback:
        """What the runtime would report: healthy figures, or the bad release's after onset.

        Errors are counted, not sampled: floor(n * rate) of n predictions, so a handful of
        predictions shows no error at all, as on a real device.
        """
        if now >= d.onset:
            error_rate, drift, confidence = self._sick
            n = int(d.rate * (now - d.onset))
        else:
            error_rate, drift, confidence = self._healthy
            n = int(d.rate * (now - d.activated_at))
        errors = math.floor(n * error_rate)
        return Feedback(drift, errors / n if n else 0.0, confidence, n)

    # ------------------------------------------------------------------ fleet-wide figures

    def _stale(self, d: Device, now: float) -> None:
        """A device is stale while the server offers it something other than what it runs."""
        stale = self._choose(d).kind != "none"
        if stale and d.stale_since is None:
            d.stale_since = now
        elif not stale and d.stale_since is not None:
            self.m.stale_seconds += now - d.stale_since
            d.stale_since = None

    def _leave_bad(self, d: Device, now: float) -> None:
        if d.bad_since is None:
            return
        self.m.bad_seconds += now - d.bad_since
        aborted = self.server.aborted.get(d.active)
        if aborted is not None and now > aborted:
            self.m.after_abort_seconds += now - max(aborted, d.bad_since)
        d.bad_since = None

    def _fleet_changed(self, now: float) -> None:
        for v in self.server.aborted.keys() - self.m.on_bad_at_abort.keys():
            self.m.on_bad_at_abort[v] = sum(d.active == v for d in self.devices)
        for d in self.devices:
            self._stale(d, now)

    def _close(self, now: float) -> None:
        for d in self.devices:
            if d.stale_since is not None:
                self.m.stale_seconds += now - d.stale_since
            self._leave_bad(d, now)


def _reason_key(reason: str) -> str:
    """Group deferral reasons by their rule ('battery 34% and not charging' -> 'battery')."""
    for word in ("network", "battery", "busy", "window", "storage"):
        if word in reason:
            return word
    return reason.split(" ", 1)[0] or "other"


def _low_battery_threshold() -> float:
    """The conditional strategy's battery rule: the threshold the report measures against."""
    from litefleet.device.policy import DownloadRules

    return DownloadRules().min_battery


__all__ = ["NETWORKS", "Device", "FleetRun"]
