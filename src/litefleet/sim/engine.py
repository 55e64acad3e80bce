"""The fleet on a virtual clock: every device's state in numpy arrays, decided by the real policy.

Time advances in steps (`SimConfig.step_minutes`, cut at every server event: a publish, a
rollout stage, an abort). In a step, every device whose wake-up time falls inside it is
decided at its own exact time, all at once, the way `litefleet.device.agent.Agent.step`
decides one device: the probation verdict (`probation_verdict_many`), `policy.due_many`,
a check that asks `litefleet.device.selection.choose_release`, a download plan from
`litefleet.device.patch_or_full.plan` (or the agent's `rank_variants` for several variant
families), `policy.may_download_many` with the devices' `ConditionsArray`, then
`policy.after_many`. Devices woken again before the step ends go round once more. Their
telemetry reaches the server after each round, in time order, where the registry's
`HaltRule` decides whether to pause a release.

`choose_release` and `plan` are pure functions of few inputs: they are called once per group
of devices with equal inputs (`np.unique` over packed keys), and a device's answer is kept
until the server's state or its own (active, highest, blocked) changes. Only while a device
is on probation or runs a bad release does it also wake every `tick_minutes`, as the agent's
loop looks at its feedback between checks.

    traces = make_traces(cfg, releases=5)
    metrics = FleetRun(cfg, traces, cfg.runs[0]).run()   # -> RunMetrics
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from litefleet.device import patch_or_full, selection
from litefleet.device.conditions import Conditions
from litefleet.device.policy import OUTCOME_CODES, DownloadRules, Policy, Rule, make_policy
from litefleet.device.probation import FAILED, PASSED, ProbationRules, probation_verdict_many
from litefleet.device.profile import DeviceProfile, rank_variants
from litefleet.drift import Feedback
from litefleet.sim.config import RunConfig, SimConfig
from litefleet.sim.metrics import RunMetrics
from litefleet.sim.server import DAY, SimServer
from litefleet.sim.stragglers import WaitLog
from litefleet.sim.traces import NONE, RAM_BYTES, Traces, device_id

KEEP = 3
"""Versions a device keeps on disk (the agent's default `keep`)."""
_ACTIVE_FILE = Path("active.tflite")
"""`patch_or_full.plan` wants the active model's path to offer a patch; the sim has no files."""
NONE_, INSTALLED, DEFERRED, REJECTED, ROLLED_BACK, ERROR = (
    OUTCOME_CODES[o] for o in ("none", "installed", "deferred", "rejected", "rolled_back", "error")
)
HORIZON = 900.0
"""How far ahead `_step` lists the devices about to wake."""
C_NONE, C_INSTALL, C_BACK = 0, 1, 2
"""`Choice.kind` as codes."""
_KINDS = {"none": C_NONE, "install": C_INSTALL, "back": C_BACK}


_M64 = (1 << 64) - 1


def device_uniform(seed: int, device: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) number `draw` of each `device`: a pure function of (seed, device, draw).

    Strategies are compared on the same fleet; with one shared random stream, a device that
    decides differently under one strategy shifts every later device's jitter, and two runs
    differ by chance as much as by strategy. Per-device streams (common random numbers) keep
    a device's n-th draw the same under every strategy, so the comparison measures the
    strategies. numpy has no vectorised counter-based draw, hence SplitMix64's finaliser
    (Steele et al., 2014) over a 64-bit key.
    """
    key = np.uint64((seed * 0x9E3779B97F4A7C15) & _M64)
    x = (device.astype(np.uint64) << np.uint64(32)) ^ draw.astype(np.uint64) ^ key
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _bit(v: np.ndarray) -> np.ndarray:
    return np.left_shift(np.uint64(1), v.astype(np.uint64))


def _has(mask: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.right_shift(mask, v.astype(np.uint64)) & np.uint64(1)).astype(bool)


def _top(mask: np.ndarray, versions: int) -> np.ndarray:
    """Highest version set in each mask (0: none)."""
    out = np.zeros(mask.shape, dtype=np.int16)
    for v in range(1, versions + 1):
        out = np.where(_has(mask, np.full(mask.shape, v)), v, out)
    return out


def _below(v: np.ndarray) -> np.ndarray:
    """Mask of the versions below v."""
    return _bit(v) - np.uint64(1)


class FleetRun:
    """One strategy over the whole fleet; `run()` returns its `RunMetrics`."""

    def __init__(
        self,
        cfg: SimConfig,
        traces: Traces,
        run: RunConfig,
        policy: Policy | None = None,
        progress: Callable[[float], None] | None = None,
        server: SimServer | None = None,
        offset: int = 0,
    ) -> None:
        """`traces` may hold a slice of the fleet, devices [offset, offset + traces.devices),
        driven with its own `server` replica (`litefleet.sim.shard`)."""
        self.cfg, self.traces, self.spec = cfg, traces, run
        self.policy = policy or make_policy(run.strategy, **copy.deepcopy(run.policy))
        self.rules = ProbationRules(**cfg.probation)
        self.server = server if server is not None else SimServer(cfg)
        self.offset = offset
        """Global index of this fleet's first device (a shard of a larger fleet)."""
        self.end = cfg.days * DAY
        self.tick = cfg.tick_minutes * 60.0
        self.step = cfg.step_minutes * 60.0
        self.progress = progress
        self.m = RunMetrics(run.name, run.strategy, cfg.devices, self.end)
        self.never_unmetered = traces.never_unmetered()
        """Devices that only ever have a metered network: their metered bytes are unavoidable."""
        rc = cfg.releases
        self.versions = len(rc.publish_days) + 1
        if self.versions > 62:
            raise ValueError("the simulator handles at most 62 releases")
        self.is_bad = np.zeros(self.versions + 1, dtype=bool)
        self.is_bad[[v for v in rc.bad_versions if 0 < v <= self.versions]] = True
        self.aborted_at = np.full(self.versions + 1, np.inf)
        self.profile = DeviceProfile(sticky_tolerance=run.sticky_tolerance)
        self.sample_aware = run.sample_aware
        self.families = sorted(rc.variants) if rc.variants else [rc.variant]
        self.multi = len(self.families) > 1
        first = self.server.index.release(1)
        assert first is not None
        start_variant = rc.variant
        if self.multi:  # v1 runs everywhere: each device took the best variant of it
            start_variant = rank_variants(first, self.profile, Conditions())[0][0][0]
        self._sizes = np.array(sorted({v.bytes for v in first.variants.values()}))
        self.low_battery = DownloadRules().min_battery
        b = cfg.bad
        self._sick = (b.error_rate, b.drift, b.confidence)
        self._healthy = (b.healthy_error_rate, b.healthy_drift, b.healthy_confidence)
        self._plans: dict[tuple[int, int, int, int], tuple[int, int, bool, int]] = {}

        n = traces.devices
        self.n = n
        self.draws = np.zeros(n, dtype=np.uint64)
        """How many uniform draws each device has made (its next draw's number)."""
        self.states = self.policy.start_many(np.zeros(n), self._u(np.arange(n)))
        self.active = np.ones(n, dtype=np.int16)
        self.previous = np.zeros(n, dtype=np.int16)
        self.highest = np.ones(n, dtype=np.int16)
        self.installed = np.full(n, 1 << 1, dtype=np.uint64)
        self.blocked = np.zeros(n, dtype=np.uint64)
        self.activated_at = np.zeros(n)
        self.onset = np.full(n, np.inf)
        """When the active release starts to misbehave on this device (inf: it never does)."""
        self.probation = np.full(n, np.nan)
        """Since when the active version is on probation (nan: it is not)."""
        self.stale_since = np.full(n, np.nan)
        self.bad_since = np.full(n, np.nan)
        self.variant_of = np.zeros((n, self.versions + 1), dtype=np.int16)
        """Index into `families` of the variant installed of each version."""
        self.variant_of[:, 1] = self.families.index(start_variant)
        self.rate = np.asarray(traces.usage, dtype=np.float64) / 3600.0
        self.wake = np.zeros(n)
        self.choice_kind = np.zeros(n, dtype=np.int8)
        self.choice_version = np.zeros(n, dtype=np.int16)
        self.choice_ok = np.zeros(n, dtype=bool)
        self._choice_epoch = -1
        self.waits = WaitLog(n, self.versions)
        self._reports: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._horizon = -np.inf
        self._soon = np.empty(0, dtype=np.int64)
        self.push = run.push
        self.nudge_at = np.full(n, np.inf)
        """When a push nudge makes the device check (inf: none pending)."""
        self._changes_seen = 0
        self._halt_seen: list[tuple[float, str, int, np.ndarray]] = []
        """Per pause/abort: (time, kind, version, each device's first check since)."""

    # ------------------------------------------------------------------ the loop

    def run(self) -> RunMetrics:
        """The whole run in this process: `begin`, then the server's changes and the
        devices' steps in time order, then `finish`. A sharded run (`shard.py`) drives the
        same four methods from its driver, one step at a time."""
        t0 = time.perf_counter()
        self.begin()
        now, server, shown = 0.0, self.server, -1.0
        while now <= self.end:
            if server.next_time() <= now:
                if server.advance(now):
                    self.server_changed(now)
                continue
            stop = min(now + self.step, server.next_time())
            last = stop > self.end
            stop = min(stop, self.end)
            self.step_until(stop, last)
            if last:
                break
            now = stop
            if self.progress and now - shown >= self.end / 100:
                shown = now
                self.progress(now / self.end)
        self.finish()
        self.m.wall_seconds = time.perf_counter() - t0
        return self.m

    def begin(self) -> None:
        """Schedule every device's first check (time 0)."""
        self._schedule(np.arange(self.n), np.zeros(self.n))

    def server_changed(self, now: float) -> None:
        """The server's signed state changed at `now` (a publish, a stage, a pause, an
        abort): account for the devices it leaves stale or on an aborted release; with
        push, nudge the online devices."""
        self._fleet_changed(now)
        self._on_changes()

    def step_until(self, stop: float, last: bool) -> None:
        """Every device that wakes before `stop` (or at it when `last`), at its own time."""
        self._step(stop, last)

    def finish(self) -> RunMetrics:
        """Close the books at the end of the run; the metrics."""
        self._close(self.end)
        self.m.halt_reach = self._halt_reach()
        return self.m

    def _step(self, stop: float, last: bool) -> None:
        """Every device that wakes before `stop` (or at it, on the last step), at its time.

        Only the devices that wake within the next `HORIZON` seconds are looked at (`_soon`,
        refreshed when the horizon is reached): a device's wake-up time moves only when it is
        decided, so none outside the list can fall due before then."""
        if stop >= self._horizon:
            self._horizon = stop + HORIZON
            self._soon = np.flatnonzero(self.wake < self._horizon)
        while True:
            wake = self.wake[self._soon]
            due = wake <= stop if last else wake < stop
            idx = self._soon[due]
            if not len(idx):
                return
            self._round(idx, wake[due])
            self._flush_reports()
            self._on_changes()  # an automatic halt in these reports: nudge now

    def _schedule(self, idx: np.ndarray, now: np.ndarray) -> None:
        t = self.states.next_check[idx]
        watched = ~np.isnan(self.probation[idx]) | self.is_bad[self.active[idx]]
        t = np.where(watched, np.minimum(t, now + self.tick), t)
        self.wake[idx] = np.maximum(np.minimum(t, self.nudge_at[idx]), now)

    def _round(self, idx: np.ndarray, now: np.ndarray) -> None:
        """`Agent.step` for each device of `idx` at its own time `now`."""
        self.m.events += len(idx)
        policy = self.policy
        on = ~np.isnan(self.probation[idx])
        if on.any():
            p, tp = idx[on], now[on]
            verdict = probation_verdict_many(
                self.probation[p], self._feedback(p, tp), tp, self.rules
            )
            failed = verdict == FAILED
            if failed.any():
                f, tf = p[failed], tp[failed]
                self._rollback(f, tf, None)
                self.m.probation_rollbacks += len(f)
                outcome = np.full(len(f), ROLLED_BACK, dtype=np.int8)
                self.states.put(
                    f,
                    policy.after_many(
                        self.states.take(f), tf, outcome, self._feedback(f, tf), self._u(f)
                    ),
                )
                self._schedule(f, tf)
                keep = np.ones(len(idx), dtype=bool)
                keep[np.flatnonzero(on)[failed]] = False
                idx, now = idx[keep], now[keep]
            self.probation[p[verdict == PASSED]] = np.nan
        feedback = self._feedback(idx, now)
        states = self.states.take(idx)
        nudged = self.nudge_at[idx] <= now
        self.nudge_at[idx[nudged]] = np.inf
        due = policy.due_many(states, now, feedback) | nudged  # a nudge: check now
        d, td = idx[due], now[due]
        if len(d):
            outcome = self._check(d, td)
            fb = _take(feedback, due)
            self.states.put(d, policy.after_many(states.take(due), td, outcome, fb, self._u(d)))
        self._schedule(idx, now)

    def _u(self, d: np.ndarray) -> np.ndarray:
        """The next uniform draw of each device of `d` (common random numbers, see
        `device_uniform`): a device throws the same dice under every strategy."""
        u = device_uniform(self.cfg.seed, d + self.offset, self.draws[d])
        self.draws[d] += np.uint64(1)
        return u

    # ------------------------------------------------------------------ one check

    def _check(self, d: np.ndarray, now: np.ndarray) -> np.ndarray:
        """`Agent.check`: what each device does with the server's answer (outcome codes)."""
        outcome = np.full(len(d), NONE_, dtype=np.int8)
        offline = self.traces.network_many(d, now) == NONE
        self.m.offline_checks += int(np.count_nonzero(offline))
        outcome[offline] = ERROR
        self.waits.offline(d[offline], now[offline], self.highest[d[offline]], self.server)
        on = np.flatnonzero(~offline)
        d_on, t_on = d[on], now[on]
        self.m.count_checks(t_on)
        for t_h, _, _, seen in self._halt_seen:  # who has learnt of each pause/abort, when
            late = t_on >= t_h
            seen[d_on[late]] = np.minimum(seen[d_on[late]], t_on[late])
        kind, version = self._choose(d_on)
        offered = np.where(kind == C_INSTALL, version, 0)
        self.waits.answered(d_on, t_on, offered, self.highest[d_on], self.server)
        act = kind != C_NONE
        local = (
            act
            & _has(self.installed[d_on], version)
            & (~_has(self.blocked[d_on], version) | (kind == C_BACK))
        )
        back = local & (kind == C_BACK)
        if back.any():
            self._rollback(d_on[back], t_on[back], version[back])
            self.m.abort_rollbacks += int(np.count_nonzero(back))
            outcome[on[back]] = ROLLED_BACK
        here = local & ~back
        if here.any():
            self._activate(d_on[here], version[here], t_on[here])
            self.m.local_installs += int(np.count_nonzero(here))
            outcome[on[here]] = INSTALLED
        fetch = act & ~local
        if fetch.any():
            outcome[on[fetch]] = self._install(d_on[fetch], version[fetch], t_on[fetch])
        return outcome

    def _install(self, d: np.ndarray, v: np.ndarray, now: np.ndarray) -> np.ndarray:
        size, full, patch, family = self._plan(d, v)
        c = self.traces.conditions_many(d, now)
        rule = self.policy.may_download_many(now, c, size, full, self.states.behind_since[d])
        outcome = np.full(len(d), DEFERRED, dtype=np.int8)
        wait = rule != Rule.GO
        if wait.any():
            self.m.deferred += int(np.count_nonzero(wait))
            codes, counts = np.unique(rule[wait], return_counts=True)
            for code, count in zip(codes, counts, strict=True):
                self.m.defer_reasons[Rule(int(code)).name.lower()] += int(count)
            self.waits.deferred(d[wait], now[wait], rule[wait], self.highest[d[wait]], self.server)
        go = np.flatnonzero(~wait)
        if not len(go):
            return outcome
        d, v, now = d[go], v[go], now[go]
        low = ~c.charging[go] & (c.battery_percent[go] < self.low_battery)
        self.m.download(c.network[go], patch[go], size[go], low, self.never_unmetered[d])
        r = v - 1
        caught = self.is_bad[v] & (self.traces.gate_draw[d, r] < self.cfg.bad.gate_catch)
        if caught.any():
            g, gv, gt = d[caught], v[caught], now[caught]
            self.blocked[g] |= _bit(gv)
            self.choice_ok[g] = False
            self._report(g, gv, True, gt)
            self.m.rejected += len(g)
            self._stale(g, gt)
            outcome[go[caught]] = REJECTED
        ok = ~caught
        d, v, now = d[ok], v[ok], now[ok]
        self.variant_of[d, v] = family[go][ok]
        self._activate(d, v, now)
        self._report(d, v, False, now)
        self.m.installs += len(d)
        outcome[go[ok]] = INSTALLED
        return outcome

    def _plan(
        self, d: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(bytes to download, bytes of the full file, patch?, variant family) per device:
        `patch_or_full.plan` (after `rank_variants` with several families), once per group."""
        active = self.active[d]
        current = self.variant_of[d, active]
        disk = (
            np.searchsorted(self._sizes, self.traces.free_disk[d], side="right")
            if self.multi
            else np.zeros(len(d), dtype=np.int64)
        )
        key = (
            v.astype(np.int64) << 48
            | active.astype(np.int64) << 32
            | current.astype(np.int64) << 16
            | disk.astype(np.int64)
        )
        keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        table = np.empty((len(keys), 4), dtype=np.int64)
        for k, i in enumerate(first):
            group = (int(v[i]), int(active[i]), int(current[i]), int(disk[i]))
            if group not in self._plans:
                self._plans[group] = self._plan_one(int(d[i]), *group[:3])
            table[k] = self._plans[group]
        rows = table[inverse]
        return rows[:, 0], rows[:, 1], rows[:, 2].astype(bool), rows[:, 3]

    def _plan_one(self, i: int, v: int, active: int, current: int) -> tuple[int, int, bool, int]:
        release = self.server.index.release(v)
        assert release is not None
        current_name = self.families[current]
        if self.multi:
            conditions = Conditions(
                free_disk_bytes=int(self.traces.free_disk[i]), free_ram_bytes=RAM_BYTES
            )
            if not self.sample_aware:
                release = release.model_copy(update={"accuracy_samples": None})
            ranked, _ = rank_variants(release, self.profile, conditions, current=current_name)
            name, entry = ranked[0]
        else:
            name = current_name
            entry = release.variants[name]
        p = patch_or_full.plan(entry, name, active, current_name, _ACTIVE_FILE)
        return p.size, entry.bytes, p.patch is not None, self.families.index(name)

    def _choose(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`choose_release` per device: asked once per group of equal inputs, then kept until
        the server's state or the device's (active, highest, blocked) changes."""
        server = self.server
        if self._choice_epoch != server.epoch:
            self.choice_ok[:] = False
            self._choice_epoch = server.epoch
        todo = d[~self.choice_ok[d]]
        if len(todo):
            self._choose_groups(todo)
        return self.choice_kind[d], self.choice_version[d]

    def _choose_groups(self, d: np.ndarray) -> None:
        server = self.server
        entries = server.rollout.rollouts
        cohort = np.zeros(len(d), dtype=np.uint64)
        for v, e in entries.items():
            if 1 <= v <= self.versions:
                inside = self.traces.bucket[d, v - 1] < e.percent
                cohort |= np.where(inside, np.uint64(1) << np.uint64(v), np.uint64(0))
        first, inverse = _groups(
            [self.active[d], self.highest[d], self.blocked[d], cohort], self.versions
        )
        kinds = np.empty(len(first), dtype=np.int8)
        versions = np.empty(len(first), dtype=np.int16)
        for k, i in enumerate(first):
            r = int(d[i])
            blocked = int(self.blocked[r])
            bucket = self.traces.bucket[r]

            def in_cohort(version: int, percent: float, bucket: np.ndarray = bucket) -> bool:
                return bool(bucket[version - 1] < percent)

            choice = selection.choose_release(
                server.index,
                server.rollout,
                device_id=device_id(r + self.offset),
                channel="stable",
                active=int(self.active[r]),
                highest=int(self.highest[r]),
                blocked={v for v in range(1, self.versions + 1) if blocked >> v & 1},
                in_cohort=in_cohort,
            )
            kinds[k] = _KINDS[choice.kind]
            versions[k] = choice.version or 0
        self.choice_kind[d] = kinds[inverse]
        self.choice_version[d] = versions[inverse]
        self.choice_ok[d] = True

    # ------------------------------------------------------------------ the device's store

    def _activate(self, d: np.ndarray, v: np.ndarray, now: np.ndarray) -> None:
        self._transition(d, v, now)
        self.previous[d] = self.active[d]
        self.active[d] = v
        self.highest[d] = np.maximum(self.highest[d], v)
        self.waits.reached(d, now, self.highest[d])
        inst = self.installed[d] | _bit(v)
        keep = _bit(v) | np.where(self.previous[d] > 0, _bit(self.previous[d]), np.uint64(0))
        for _ in range(self.versions):
            over = np.bitwise_count(inst) > KEEP
            if not over.any():
                break
            spare = inst & ~keep
            lowest = spare & (~spare + np.uint64(1))
            inst = np.where(over, inst & ~lowest, inst)
        self.installed[d] = inst
        self.probation[d] = now
        self.choice_ok[d] = False
        self._stale(d, now)

    def _rollback(self, d: np.ndarray, now: np.ndarray, to: np.ndarray | None) -> None:
        """`Store.rollback`: back to `to` (or the previous version); the version left is blocked."""
        left = self.active[d]
        inst, blocked = self.installed[d], self.blocked[d]
        if to is None:
            prev = self.previous[d]
            older = _top(inst & ~blocked & _below(left), self.versions)
            to = np.where(
                (prev > 0) & _has(inst, prev), prev, np.where(older > 0, older, left)
            ).astype(np.int16)
        move = to != left
        d, now, left, to = d[move], now[move], left[move], to[move]
        if not len(d):
            return
        blocked = (self.blocked[d] | _bit(left)) & ~_bit(to)
        self.blocked[d] = blocked
        self._transition(d, to, now)
        older = _top(self.installed[d] & _below(to) & ~blocked, self.versions)
        self.active[d] = to
        self.previous[d] = older
        self.probation[d] = np.nan
        self.choice_ok[d] = False
        self._report(d, left, True, now)
        self._stale(d, now)

    def _transition(self, d: np.ndarray, v: np.ndarray, now: np.ndarray) -> None:
        self.m.transitions.add(now, self.active[d], v)
        self._leave_bad(d, now)
        self.activated_at[d] = now
        bad = self.is_bad[v]
        onset = np.full(len(d), np.inf)
        if bad.any():
            b, r = d[bad], v[bad] - 1
            self.bad_since[b] = now[bad]
            late = self.traces.latent[b, r]
            delay = np.where(late, self.rules.seconds + self.traces.latent_delay[b, r], 0.0)
            onset[bad] = now[bad] + delay
        self.onset[d] = onset

    def _feedback(self, d: np.ndarray, now: np.ndarray) -> Feedback:
        """What the runtime would report: healthy figures, or the bad release's after onset.

        Errors are counted, not sampled: floor(n * rate) of n predictions, so a handful of
        predictions shows no error at all, as on a real device.
        """
        onset = self.onset[d]
        sick = now >= onset
        since = np.where(sick, onset, self.activated_at[d])
        n = np.floor(self.rate[d] * (now - since))
        error_rate = np.where(sick, self._sick[0], self._healthy[0])
        errors = np.floor(n * error_rate)
        return Feedback(
            drift=np.where(sick, self._sick[1], self._healthy[1]),
            error_rate=np.divide(errors, n, out=np.zeros(len(d)), where=n > 0),
            confidence=np.where(sick, self._sick[2], self._healthy[2]),
            predictions=n.astype(np.int64),
        )

    # ------------------------------------------------------------------ fleet-wide figures

    def _report(self, d: np.ndarray, v: np.ndarray, failed: bool, now: np.ndarray) -> None:
        if len(d):
            self._reports.append((d, v, np.full(len(d), failed), now))

    def _flush_reports(self) -> None:
        if not self._reports:
            return
        d, v, f, t = (np.concatenate(x) for x in zip(*self._reports, strict=True))
        self._reports.clear()
        self.server.report_many(d, v, f, t)

    def _stale(self, d: np.ndarray, now: np.ndarray) -> None:
        """A device is stale while the server offers it something other than what it runs."""
        kind, _ = self._choose(d)
        stale = kind != C_NONE
        since = self.stale_since[d]
        was = ~np.isnan(since)
        start = stale & ~was
        end = ~stale & was
        self.m.stale_seconds += float(np.sum(now[end] - since[end]))
        since = np.where(start, now, np.where(end, np.nan, since))
        self.stale_since[d] = since

    def _leave_bad(self, d: np.ndarray, now: np.ndarray) -> None:
        since = self.bad_since[d]
        on = ~np.isnan(since)
        if not on.any():
            return
        d, now, since = d[on], now[on], since[on]
        self.m.bad_seconds += float(np.sum(now - since))
        aborted = self.aborted_at[self.active[d]]
        late = now > aborted
        self.m.after_abort_seconds += float(
            np.sum(now[late] - np.maximum(aborted[late], since[late]))
        )
        self.bad_since[d] = np.nan

    def _fleet_changed(self, now: float) -> None:
        for v, t in self.server.aborted.items():
            if v not in self.m.on_bad_at_abort:
                self.aborted_at[v] = t
                self.m.on_bad_at_abort[v] = int(np.count_nonzero(self.active == v))
        everyone = np.arange(self.n)
        self._stale(everyone, np.full(self.n, now))

    # ------------------------------------------------------------------ push (issue 23)

    def _on_changes(self) -> None:
        """Each new signed change: start watching who learns of a halt; with push, nudge."""
        changes = self.server.changes
        while self._changes_seen < len(changes):
            t, kind, _version = changes[self._changes_seen]
            self._changes_seen += 1
            if kind in ("pause", "abort"):
                self._halt_seen.append((t, kind, _version, np.full(self.n, np.inf)))
            if self.push is not None:
                self._nudge(t, kind)

    def _nudge(self, t: float, kind: str) -> None:
        """Online devices check at `t` (a halt) or within the release spread; offline ones
        when they are back online (the reconnect check), within the reconnect spread."""
        every = np.arange(self.n)
        online = self.traces.network_many(every, np.full(self.n, t)) != NONE
        halt = kind in ("pause", "abort")
        spread = self.push.halt_spread_s if halt else self.push.release_spread_s
        at = np.full(self.n, t)
        on, off = every[online], every[~online]
        if spread and len(on):
            at[on] += spread * self._u(on)
        if len(off):
            at[off] = self._back_online(off, t) + self.push.reconnect_spread_s * self._u(off)
        self.nudge_at = np.minimum(self.nudge_at, at)
        self.wake = np.minimum(self.wake, np.maximum(at, t))
        soon = every[self.wake < self._horizon]
        self._soon = np.union1d(self._soon, soon)

    def _back_online(self, d: np.ndarray, t: float, days: int = 7) -> np.ndarray:
        """Start of the first hour after `t` each device of `d` has a network (inf: none
        within `days`): the traces are hourly."""
        back = np.full(len(d), np.inf)
        todo = np.arange(len(d))
        first = int(t // 3600.0) + 1
        for hour in range(first, min(self.traces.hours, first + 24 * days)):
            if not len(todo):
                break
            net = self.traces.network_many(d[todo], np.full(len(todo), hour * 3600.0))
            up = net != NONE
            back[todo[up]] = hour * 3600.0
            todo = todo[~up]
        return back

    def _halt_reach(self) -> list[dict[str, object]]:
        out = []
        for t_h, kind, version, seen in self._halt_seen:
            hours = np.sort(seen - t_h) / 3600.0
            reach = {}
            for q in (0.5, 0.95):
                k = int(np.ceil(q * self.n)) - 1
                reach[f"hours_to_{int(q * 100)}"] = (
                    float(hours[k]) if np.isfinite(hours[k]) else None
                )
            out.append({"kind": kind, "version": version, "hour": t_h / 3600.0, **reach})
        return out

    def _close(self, now: float) -> None:
        since = self.stale_since
        stale = ~np.isnan(since)
        self.m.stale_seconds += float(np.sum(now - since[stale]))
        everyone = np.arange(self.n)
        self._leave_bad(everyone, np.full(self.n, now))


def _groups(columns: list[np.ndarray], versions: int) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each group, group of each row) of rows with equal values in `columns`
    (versions, or masks of versions): packed into one int64 key when they fit, else by row."""
    bits = (versions + 1).bit_length()
    widths = [bits, bits, versions + 1, versions + 1]
    if sum(widths) <= 63:
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for col, width in zip(columns, widths, strict=True):
            key = (key << width) | col.astype(np.int64)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        rows = np.stack([c.astype(np.uint64) for c in columns], axis=1)
        _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _take(fb: Feedback, sel: np.ndarray) -> Feedback:
    return Feedback(
        drift=fb.drift[sel],
        error_rate=fb.error_rate[sel],
        confidence=fb.confidence[sel],
        predictions=fb.predictions[sel],
    )


__all__ = ["FleetRun"]
