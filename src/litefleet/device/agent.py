"""The device agent: one update cycle, sequenced; every rule lives in the module it names.

    check:  recover the store -> probation verdict -> refresh TUF -> choose a release
            (selection) -> rank variants (profile) -> may we download now? (policy) ->
            fetch, patch first (download) -> health gate (health) -> commit + activate (store)
    run:    loop `check` whenever the strategy says it is due; watch probation in between.

Every outcome is a `CheckResult` whose `action` is one of none, installed, deferred,
rejected, rolled_back, error; the active model changes only on installed and rolled_back.

    agent = Agent(home)          # reads HOME/config.json; clock/conditions/policy injectable
    result = agent.check()
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from litefleet.device import patch_or_full
from litefleet.device.clock import Clock, SystemClock
from litefleet.device.conditions import (
    ConditionsProvider,
    JsonConditions,
    SystemConditions,
)
from litefleet.device.config import AgentConfig, load_config
from litefleet.device.crashpoints import crashpoint
from litefleet.device.health import health_check
from litefleet.device.policy import OUTCOMES, Policy, PolicyState, make_policy
from litefleet.device.probation import probation_verdict
from litefleet.device.profile import rank_variants
from litefleet.device.runtime import read_feedback
from litefleet.device.selection import choose_release
from litefleet.device.store import Manifest, ModelStore
from litefleet.device.telemetry import TelemetryQueue
from litefleet.device.tuf_client import ReleaseSource, UnreachableError, VerificationError
from litefleet.drift import Feedback
from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_json, read_json
from litefleet.release import GOLDEN_SET, Release, ReleaseIndex


@dataclass
class CheckResult:
    """What one update cycle did; `to_json()` is the `agent check --json` contract.

    Attributes:
        action: none, installed, deferred, rejected, rolled_back or error.
        active_version: the version the app runs after the cycle.
        reason: why (empty for a plain install): the rule that deferred, the gate's verdict,
            the network error with its URL and cause.

    Example:
        >>> result = Agent(home).check()
        >>> result.action, result.active_version, result.source
        ('installed', 2, 'patch')
    """

    action: str
    active_version: int | None
    reason: str = ""
    version: int | None = None
    """The release the cycle was about (installed, deferred, rejected, rolled back to)."""
    variant: str | None = None
    source: str | None = None
    bytes_downloaded: int = 0
    completed: bool = True
    """False when the cycle could not complete (server unreachable, verification failed):
    the CLI exits 1."""
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    """Problems the cycle did not stop for but an operator must fix (a refused token)."""
    trigger: str = ""
    """Why the check ran (`agent run`): schedule, a retry, or the smart alarm (drift ...)."""
    next_check: float | None = None
    """Unix time of the next scheduled check (`agent run`)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Agent:
    """The device's update agent: one verified update cycle (`check`), the loop (`run`),
    rollback on command. State lives in the device home, so every call may be a new process.

    Args:
        home: the device home written by `litefleet agent init` (`config.json`, `tuf/`).
        config: settings to use instead of `HOME/config.json`.
        clock, conditions, policy, rng: injected time, device conditions, strategy and
            randomness (tests and the simulator drive the same code on a virtual clock).

    Raises:
        UserError: `home` is not an agent home or its `config.json` is invalid (one line
            naming the key).

    Example:
        >>> agent = Agent("/var/lib/litefleet")
        >>> result = agent.check()          # never raises for the network's faults
        >>> result.action
        'installed'
    """

    def __init__(
        self,
        home: Path,
        *,
        config: AgentConfig | None = None,
        clock: Clock | None = None,
        conditions: ConditionsProvider | None = None,
        policy: Policy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.home = Path(home)
        self.config = config or load_config(self.home)
        self.clock = clock or SystemClock()
        self.conditions = conditions or self._default_conditions()
        self.policy = policy or make_policy(self.config.strategy, **dict(self.config.policy))
        self.rng = rng or random.Random()
        self.store = ModelStore(self.home, keep=self.config.keep, recover=False)
        self.source = ReleaseSource(
            self.home, self.config.server, self.config.model, timeout=self.config.timeout_s
        )
        self.telemetry = TelemetryQueue(
            self.home, self.config.server, self.config.device_id, self.config.token
        )

    def _default_conditions(self) -> ConditionsProvider:
        if self.config.conditions_file:
            return JsonConditions(Path(self.config.conditions_file), SystemConditions(self.home))
        return SystemConditions(self.home)

    # ------------------------------------------------------------------ one cycle

    def check(self, flush_telemetry: bool = True) -> CheckResult:
        """One update cycle. Never raises for the outside world's faults: they are results.

        Args:
            flush_telemetry: post the queued events at the end (the run loop batches them).

        Returns:
            A `CheckResult`; `completed` is False when the cycle could not finish (server
            unreachable, metadata that fails verification).
        """
        t0 = time.perf_counter()
        try:
            with self.store.lock:
                self.store.recover()
                result = self._probation_step() or self._cycle()
        except VerificationError as exc:
            result = self._result("error", str(exc), completed=False)
        except UnreachableError as exc:
            result = self._result("error", str(exc), completed=False)
        except UserError as exc:
            result = self._result("error", str(exc), completed=False)
        except OSError as exc:  # disk full or failing storage: every write is atomic, so
            # the store is as it was before the check (staging and .tmp files are dropped)
            result = self._result("error", f"storage error: {exc}", completed=False)
        result.seconds = round(time.perf_counter() - t0, 4)
        with contextlib.suppress(OSError):  # a full disk must not turn a result into a crash
            if flush_telemetry:
                self.telemetry.flush()
                result.warnings = self.telemetry.warnings()
            self._remember(result)
        return result

    def _result(self, action: str, reason: str = "", **kw: Any) -> CheckResult:
        return CheckResult(action, self.store.active_version(), reason, **kw)

    def _cycle(self) -> CheckResult:
        cfg = self.config
        st = self.store.state()
        conditions = self.conditions.read()
        with self.source.session() as s:
            index = s.index()
            choice = choose_release(
                index,
                s.rollout(),
                device_id=cfg.device_id,
                channel=cfg.channel,
                active=st.active,
                highest=st.highest_activated,
                blocked=st.blocked,
            )
            if choice.kind == "none":
                return self._result("none", choice.reason)
            version = choice.version
            assert version is not None
            release = index.release(version)
            assert release is not None
            if version in self.store.installed() and version not in st.blocked:
                # installed and gated before a crash or an earlier switch: just activate
                return self._activate_installed(version, choice)
            if choice.kind == "back" and version in self.store.installed():
                self.store.rollback(to=version, reason=choice.reason)
                self._report_rollback(st.active, version, choice.reason)
                return self._result("rolled_back", choice.reason, version=version)
            try:
                return self._install(s, index, release, conditions, st.active)
            except VerificationError as exc:  # a target failed its signed hashes: refuse it
                self.telemetry.record("rejected", cfg.model, version, str(exc))
                return self._result("rejected", str(exc), version=version, completed=False)

    def _activate_installed(self, version: int, choice) -> CheckResult:
        st = self.store.state()
        if choice.kind == "back":
            self.store.rollback(to=version, reason=choice.reason)
            self._report_rollback(st.active, version, choice.reason)
            return self._result("rolled_back", choice.reason, version=version)
        now = self.clock.now()
        self.store.activate(
            version, self.config.probation.start(version, now), reason="installed earlier"
        )
        self.telemetry.record("activated", self.config.model, version, "installed earlier")
        m = self.store.manifest(version)
        return self._result(
            "installed", "already on disk", version=version, variant=m.variant, source="local"
        )

    def _install(self, s, index: ReleaseIndex, release: Release, conditions, active) -> CheckResult:
        cfg, version = self.config, release.version
        active_manifest = self.store.manifest(active) if active is not None else None
        ranked, why_not = rank_variants(
            release,
            cfg.profile(),
            conditions,
            current=active_manifest.variant if active_manifest else None,
        )
        if not ranked:
            return self._result(
                "rejected", f"no variant fits this device: {why_not}", version=version
            )
        expected = cfg.pinned_signature or (
            active_manifest.signature if active_manifest else index.signature
        )
        reasons: list[str] = []
        for name, entry in ranked:
            p = patch_or_full.plan(
                entry,
                name,
                active,
                active_manifest.variant if active_manifest else None,
                self.store.model_path(active) if active is not None else None,
            )
            gate = self.policy.may_download(self.clock.now(), conditions, p.size)
            if not gate.go:
                return self._result(
                    "deferred",
                    gate.reason,
                    version=version,
                    variant=name,
                    details={"bytes": p.size},
                )
            info = s.variant_info(entry.path)
            if (info.model, info.version, info.variant, info.sha256) != (
                cfg.model,
                version,
                name,
                entry.sha256,
            ):
                raise VerificationError(f"{entry.path}: signed custom data disagrees with index")
            with self.store.staging() as stage:
                model_file = stage / f"{name}.tflite"
                src, nbytes, note = patch_or_full.fetch(s, p, model_file)
                s.download(release.golden, stage / GOLDEN_SET)
                report = health_check(
                    model_file,
                    stage / GOLDEN_SET,
                    expected=expected,
                    min_accuracy=release.min_accuracy,
                    min_agreement=release.min_agreement,
                    latency_budget_ms=cfg.latency_budget_ms,
                )
                crashpoint("gate.checked")
                metrics = {
                    "accuracy": report.accuracy,
                    "agreement": report.agreement,
                    "latency_ms": report.latency_ms,
                    "bytes": float(nbytes),
                }
                if not report.ok:
                    self.telemetry.record(
                        "health_failed", cfg.model, version, f"{name}: {report.reason}", **metrics
                    )
                    reasons.append(f"{name}: {report.reason}")
                    if report.checks.get("latency") is False:
                        continue  # the measured latency says it does not fit: next variant
                    break
                manifest = Manifest(
                    model=cfg.model,
                    version=version,
                    variant=name,
                    file=model_file.name,
                    precision=entry.precision,
                    sha256=entry.sha256,
                    bytes=entry.bytes,
                    signature=report.signature or index.signature,
                    accuracy=report.accuracy,
                    latency_ms=report.latency_ms,
                    source=src,
                    installed=self.clock.now(),
                    reference_stats=release.reference_stats,
                )
                self.store.commit(stage, manifest)
            now = self.clock.now()
            self.store.activate(version, cfg.probation.start(version, now), reason=f"{src} {name}")
            self.telemetry.record("installed", cfg.model, version, f"{src} {name}", **metrics)
            self.telemetry.record("activated", cfg.model, version, "", **metrics)
            return self._result(
                "installed",
                note,
                version=version,
                variant=name,
                source=src,
                bytes_downloaded=nbytes,
                details=metrics,
            )
        reason = "; ".join(reasons)
        self.store.block(version, reason)
        self.telemetry.record("rejected", cfg.model, version, reason)
        return self._result("rejected", reason, version=version)

    # ------------------------------------------------------------------ probation / rollback

    def _probation_step(self) -> CheckResult | None:
        st = self.store.state()
        p = st.probation
        if p is None or p.version != st.active:
            return None
        feedback = read_feedback(self.home, p.version)
        verdict, reason = probation_verdict(p, feedback, self.clock.now(), self.config.probation)
        if verdict == "failed":
            try:
                to = self.store.rollback(reason=reason)
            except UserError:
                # nothing else on disk: keep the only model (better than none) and carry on,
                # or every later check fails here and a fixed release can never arrive
                self.store.end_probation(p.version)
                self.telemetry.record(
                    "health_failed", self.config.model, p.version, f"{reason}; kept: no other"
                )
                return None
            self._report_rollback(
                p.version, to, reason, drift=feedback.drift, error_rate=feedback.error_rate
            )
            return self._result("rolled_back", reason, version=to)
        if verdict == "passed":
            self.store.end_probation(p.version)
        return None

    def _report_rollback(self, left: int | None, to: int, reason: str, **metrics: float) -> None:
        """`rolled_back` names the version left (the server counts it as failed), then
        `activated` names the one running now."""
        self.telemetry.record(
            "rolled_back", self.config.model, left, f"to {to}: {reason}", **metrics
        )
        self.telemetry.record("activated", self.config.model, to, reason)

    def watch_probation(self) -> CheckResult | None:
        """The probation verdict alone (no network): for the serve and run loops."""
        with self.store.lock:
            return self._probation_step()

    def rollback(self, to: int | None = None) -> CheckResult:
        with self.store.lock:
            self.store.recover()
            before = self.store.active_version()
            version = self.store.rollback(to=to)
        reason = f"rollback on command from {before}"
        self._report_rollback(before, version, reason)
        self.telemetry.flush()
        return self._result("rolled_back", reason, version=version)

    # ------------------------------------------------------------------ the long run

    @property
    def state_path(self) -> Path:
        return self.home / "agent.json"

    def policy_state(self) -> PolicyState:
        data = (read_json(self.state_path) or {}).get("policy")
        if data:
            return PolicyState(**data)
        return self.policy.start(self.clock.now(), self.rng)

    def _remember(self, result: CheckResult, policy: PolicyState | None = None) -> None:
        data = read_json(self.state_path) or {}
        data["last"] = result.to_json()
        data["last_time"] = self.clock.now()
        if policy is not None:
            data["policy"] = asdict(policy)
        atomic_write_json(self.state_path, data)

    def _remember_policy(self, policy: PolicyState) -> None:
        data = read_json(self.state_path) or {}
        data["policy"] = asdict(policy)
        atomic_write_json(self.state_path, data)

    def feedback(self) -> Feedback:
        return read_feedback(self.home, self.store.active_version())

    def step(self, state: PolicyState) -> tuple[PolicyState, CheckResult | None]:
        """One tick of the run loop: probation, then a check if the strategy says so."""
        result = self.watch_probation()
        if result is not None:
            result.trigger = "probation verdict"
        feedback = self.feedback()
        now = self.clock.now()
        if result is None and not self.policy.due(state, now, feedback):
            return state, None
        if result is None:
            trigger = self.policy.why_due(state, now, feedback)
            result = self.check(flush_telemetry=False)
            result.trigger = trigger
            self.telemetry.record(
                "heartbeat",
                self.config.model,
                result.active_version,
                result.action,
                drift=feedback.drift,
                error_rate=feedback.error_rate,
                confidence=feedback.confidence,
                predictions=feedback.predictions,
            )
            self.telemetry.flush()
            result.warnings = self.telemetry.warnings()
        outcome = result.action if result.action in OUTCOMES else "error"
        state = self.policy.after(state, self.clock.now(), outcome, feedback, self.rng)
        result.next_check = state.next_check
        self._remember(result, state)
        return state, result

    def run(
        self,
        stop: threading.Event | None = None,
        max_cycles: int | None = None,
        tick: float = 5.0,
        on_result=None,
    ) -> None:
        """Loop until `stop` is set (or `max_cycles` checks ran)."""
        stop = stop or threading.Event()
        state = self.policy_state()
        with contextlib.suppress(OSError):  # `agent status` shows next_check from the start
            self._remember_policy(state)
        cycles = 0
        while not stop.is_set():
            state, result = self.step(state)
            if result is not None:
                cycles += 1
                if on_result:
                    on_result(result)
                if max_cycles is not None and cycles >= max_cycles:
                    return
            wait = max(0.0, min(tick, state.next_check - self.clock.now()))
            if isinstance(self.clock, SystemClock):
                stop.wait(wait)
            else:
                self.clock.sleep(max(wait, 1e-3))
