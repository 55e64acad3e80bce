"""The update server as the fleet sees it: a signed index, a rollout state, the automatic halt.

It holds real `litefleet.release.ReleaseIndex` and `RolloutState` values (the ones
`choose_release` reads on a device), publishes releases on the configured days with patches
from the previous releases, steps every rollout through its stages, counts what devices
report as the telemetry store does (tried = any event naming a release, failed =
`health_failed` or `rolled_back`), and pauses a release by `litefleet.registry.halt.HaltRule`,
the rule the real server acts on. An operator aborts a paused release `abort_after_hours`
later; then devices go back at their next check.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field

import numpy as np

from litefleet.registry.halt import HaltRule
from litefleet.registry.telemetry import ReleaseHealth
from litefleet.release import (
    GOLDEN_INPUTS,
    GOLDEN_REFERENCE,
    FileRef,
    GateSpec,
    PatchEntry,
    Release,
    ReleaseIndex,
    RolloutEntry,
    RolloutState,
    Signature,
    TensorSpec,
    VariantEntry,
    patch_path,
    variant_path,
)
from litefleet.sim.config import SimConfig, VariantConfig

DAY = 86400.0
HOUR = 3600.0
_SIGNATURE = Signature(
    inputs=[TensorSpec(name="x", shape=[1, 64], dtype="float32")],
    outputs=[TensorSpec(name="y", shape=[1, 10], dtype="float32")],
)


@dataclass
class Halt:
    version: int
    time: float
    tried: int
    failed: int
    reason: str


@dataclass
class SimServer:
    cfg: SimConfig
    index: ReleaseIndex = field(init=False)
    rollout: RolloutState = field(init=False)
    epoch: int = 0
    """Bumped on every change of the index or the rollout state (devices cache on it)."""
    published: dict[int, float] = field(default_factory=dict)
    aborted: dict[int, float] = field(default_factory=dict)
    halts: list[Halt] = field(default_factory=list)
    tried: dict[int, np.ndarray] = field(default_factory=dict)
    """Per version: which devices reported it (bool per device; each counts once)."""
    failed: dict[int, np.ndarray] = field(default_factory=dict)
    _counts: dict[int, list[int]] = field(default_factory=dict)
    """Per version: [devices that tried it, devices that failed it]."""
    changes: list[tuple[float, str, int]] = field(default_factory=list)
    """(time, publish|percent|pause|abort, version) of every signed change: what push nudges."""
    _queue: list[tuple[float, int, str, int, float]] = field(default_factory=list)
    _seq: int = 0

    def __post_init__(self) -> None:
        rc = self.cfg.releases
        self.rule = HaltRule(self.cfg.server.halt_threshold, self.cfg.server.halt_min_devices)
        self.index = ReleaseIndex(model=rc.model, signature=_SIGNATURE, releases=[self._release(1)])
        self.rollout = RolloutState(model=rc.model, rollouts={1: RolloutEntry(percent=100.0)})
        self.published[1] = 0.0
        for n, day in enumerate(sorted(rc.publish_days)):
            version, t = n + 2, day * DAY
            self._push(t, "publish", version, rc.rollout_stages[0][1])
            for hours, percent in rc.rollout_stages[1:]:
                self._push(t + hours * HOUR, "percent", version, percent)

    @property
    def versions(self) -> list[int]:
        return [1] + [n + 2 for n in range(len(self.cfg.releases.publish_days))]

    def is_bad(self, version: int) -> bool:
        return version in self.cfg.releases.bad_versions

    def next_time(self) -> float:
        return self._queue[0][0] if self._queue else float("inf")

    def advance(self, now: float) -> bool:
        """Apply every scheduled change up to `now`; True when the state changed."""
        changed = False
        while self._queue and self._queue[0][0] <= now:
            t, _, action, version, percent = heapq.heappop(self._queue)
            if self._apply(t, action, version, percent):
                changed = True
                self.changes.append((t, action, version))
        return changed

    def report_many(
        self, devices: np.ndarray, versions: np.ndarray, failed: np.ndarray, times: np.ndarray
    ) -> None:
        """Telemetry events in time order (`failed`: `health_failed` or `rolled_back`, else
        `installed`); the halt rule is checked after every event, as the server does on
        every batch, for a release that is active and has failures."""
        order = np.argsort(times, kind="stable")
        devices, versions, failed, times = (a[order] for a in (devices, versions, failed, times))
        for version in np.unique(versions):
            v = int(version)
            sel = versions == v
            d, f, t = devices[sel], failed[sel], times[sel]
            entry = self.rollout.rollouts.get(v)
            counts = self._counts.setdefault(v, [0, 0])
            if entry is None or entry.status != "active" or (not counts[1] and not f.any()):
                self._mark(v, d, f)
                continue
            tried, bad = self._seen(v)
            for k in range(len(d)):
                i = d[k]
                if not tried[i]:
                    tried[i] = True
                    counts[0] += 1
                if f[k] and not bad[i]:
                    bad[i] = True
                    counts[1] += 1
                if self._halts(v, float(t[k])):
                    self._mark(v, d[k + 1 :], f[k + 1 :])
                    break

    def _seen(self, version: int) -> tuple[np.ndarray, np.ndarray]:
        if version not in self.tried:
            self.tried[version] = np.zeros(self.cfg.devices, dtype=bool)
            self.failed[version] = np.zeros(self.cfg.devices, dtype=bool)
        return self.tried[version], self.failed[version]

    def _mark(self, version: int, devices: np.ndarray, failed: np.ndarray) -> None:
        """Count reports in bulk (no halt can follow from them)."""
        tried, bad = self._seen(version)
        counts = self._counts.setdefault(version, [0, 0])
        tried[devices] = True
        bad[devices[failed]] = True
        counts[0], counts[1] = int(np.count_nonzero(tried)), int(np.count_nonzero(bad))

    def _halts(self, version: int, now: float) -> bool:
        """`HaltRule.should_halt` on the counts so far; pauses the release when it says so."""
        tried, failed = self._counts[version]
        health = ReleaseHealth(
            model=self.index.model,
            version=version,
            tried=tried,
            failed=failed,
            health_failed=0,
            rolled_back=0,
            running=0,
        )
        if not self.rule.should_halt(health):
            return False
        self._set(version, status="paused", reason=self.rule.reason(health))
        self.changes.append((now, "pause", version))
        self.halts.append(Halt(version, now, health.tried, health.failed, self.rule.reason(health)))
        after = self.cfg.server.abort_after_hours
        if after is not None:
            self._push(now + after * HOUR, "abort", version, 0.0)
        return True

    # ------------------------------------------------------------------ internals

    def _push(self, t: float, action: str, version: int, percent: float) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, self._seq, action, version, percent))

    def _apply(self, t: float, action: str, version: int, percent: float) -> bool:
        if action == "publish":
            self.index = self.index.model_copy(
                update={"releases": [*self.index.releases, self._release(version)]}
            )
            self.published[version] = t
            self._set(version, percent=percent, status="active")
            return True
        entry = self.rollout.rollouts.get(version)
        if entry is None or entry.status == "aborted":
            return False  # the registry refuses to change an aborted rollout
        if action == "abort":
            self.aborted[version] = t
            self._set(version, status="aborted", reason="aborted by the operator after a halt")
        else:
            self._set(version, percent=percent)
        return True

    def _set(self, version: int, **update: object) -> None:
        entry = self.rollout.rollouts.get(version, RolloutEntry(percent=0.0))
        rollouts = {**self.rollout.rollouts, version: entry.model_copy(update=update)}
        self.rollout = RolloutState(model=self.index.model, rollouts=rollouts)
        self.epoch += 1

    def _release(self, version: int) -> Release:
        rc = self.cfg.releases
        families = rc.variants or {rc.variant: VariantConfig(accuracy=0.95)}
        variants = {}
        for name, vc in families.items():
            variants[name] = self._variant(version, name, vc)
        # the release's files as publish signs them: inputs unchanged since release 1,
        # a reference of this release (the simulator moves no file bytes)
        digest = hashlib.sha256(f"{rc.model}/{version}".encode()).hexdigest()
        return Release(
            version=version,
            created="1970-01-01T00:00:00Z",
            variants=variants,
            golden_inputs=FileRef(
                path=f"{rc.model}/1/{GOLDEN_INPUTS}", bytes=0, sha256=hashlib.sha256().hexdigest()
            ),
            golden_reference=FileRef(
                path=f"{rc.model}/{version}/{GOLDEN_REFERENCE}", bytes=0, sha256=digest
            ),
            gate=GateSpec(min_accuracy=0.9),
            accuracy_samples=rc.accuracy_samples,
        )

    def _variant(self, version: int, name: str, vc: VariantConfig) -> VariantEntry:
        rc = self.cfg.releases
        full = int(rc.full_bytes * vc.bytes_factor)
        patches = []
        for old in range(version - 1, max(0, version - 1 - rc.patch_depth), -1):
            retrained = any(old < r <= version for r in rc.retrain_versions)
            size = int((rc.retrain_patch_bytes if retrained else rc.patch_bytes) * vc.bytes_factor)
            if size < full:  # the registry's rule: only a patch that saves bytes
                path = patch_path(rc.model, version, name, old)
                patches.append(PatchEntry(from_version=old, path=path, bytes=size))
        # the same draw in every run and every process: seeded by (seed, version, name)
        noise = random.Random(f"{self.cfg.seed}/{version}/{name}").gauss(0, rc.accuracy_jitter)
        accuracy = min(1.0, max(0.0, vc.accuracy + noise))
        if rc.accuracy_samples:  # measured on n samples: a multiple of 1/n
            accuracy = round(accuracy * rc.accuracy_samples) / rc.accuracy_samples
        return VariantEntry(
            path=variant_path(rc.model, version, name),
            precision=vc.precision,
            bytes=full,
            accuracy=accuracy,
            latency_ms_p50=1.0,
            sha256=f"{version:064x}",
            patches=patches,
        )
