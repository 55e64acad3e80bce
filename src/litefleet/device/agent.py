"""The device agent: one update cycle, sequenced; every rule lives in the module it names.

    check:  recover the store -> crash-loop counter -> probation verdict   [store lock]
            -> refresh TUF -> choose a release (selection)                   [network]
            -> plan: rank variants (profile), minus bytes refused before
            -> per variant: may we download now? (policy) -> fetch, patch first
               (patch_or_full) -> gate in a child process (health, sandbox)
            -> commit + activate (store)                                     [store lock]
    run:    loop `check` whenever the strategy says it is due; watch probation in between.

The store lock is never held across the network or the gate, and the whole check has a
deadline (`check_deadline_s`), so local commands and the app never wait on a server.

Every outcome is a `CheckResult` whose `action` is one of none, installed, deferred,
rejected, rolled_back, error; the active model changes only on installed and rolled_back.

    agent = Agent(home)          # reads HOME/config.json; clock/conditions/policy injectable
    result = agent.check()
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from litefleet.device import patch_or_full
from litefleet.device.canary import read_canary
from litefleet.device.clock import Clock, SystemClock
from litefleet.device.conditions import (
    ConditionsProvider,
    JsonConditions,
    SystemConditions,
)
from litefleet.device.config import AgentConfig, load_config
from litefleet.device.crashpoints import crashpoint
from litefleet.device.health import against_previous, gate_limits, isolated_health_check
from litefleet.device.policy import OUTCOMES, Policy, PolicyState, make_policy, next_behind_since
from litefleet.device.probation import probation_verdict
from litefleet.device.profile import rank_variants, swap_reason
from litefleet.device.runtime import read_feedback
from litefleet.device.selection import choose_release
from litefleet.device.store import Manifest, ModelStore
from litefleet.device.telemetry import TelemetryQueue
from litefleet.device.tuf_client import ReleaseSource, UnreachableError, VerificationError
from litefleet.drift import Feedback
from litefleet.errors import UserError
from litefleet.fsutil import atomic_write_json, read_json
from litefleet.release import (
    GOLDEN_INPUTS,
    GOLDEN_REFERENCE,
    FileRef,
    Release,
    ReleaseIndex,
    VariantEntry,
)
from litefleet.sandbox import Limits

MAX_FALLBACKS = 3
"""Refused releases a device with no model skips in one cycle before it waits for the next."""


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
    """Every body byte the check received: TUF metadata, index, release files, model."""
    model_bytes: int = 0
    """Of which the model transfer (the patch or the full file)."""
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
    escalation: str = ""
    """The escalation step that let this download through (`escalation 2/3:
    metered_patches`); empty when the normal download rules allowed it."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Plan:
    ranked: list[tuple[str, VariantEntry]]
    expected: Any
    """The signature the app expects (pinned, the active model's, or the index's)."""
    active_manifest: Manifest | None
    why_not: str = ""
    """Why variants were left out (the installed one among them, when it no longer fits)."""


def _expected_agreement(release: Release, variant: str, previous: int | None) -> float | None:
    """The agreement with `previous` the publisher measured for this variant on the golden
    inputs, when it measured against that very version (else None: the canary's default)."""
    q = release.quality
    if q is None or previous is None or q.previous != previous:
        return None
    return q.agreement_with_previous.get(variant)


def _file_name(ref: FileRef) -> str:
    """A release file's name in the version folder (`golden-inputs.npz`, `drift.json`):
    the last segment of its canonical target path, whichever release signed it."""
    return ref.path.rsplit("/", 1)[1]


def _metrics(report, nbytes: int) -> dict[str, float]:
    metrics = {
        "accuracy": report.accuracy,
        "agreement": report.agreement,
        "latency_ms": report.latency_ms,
        "bytes": float(nbytes),
    }
    if report.previous_closeness:  # measured against the previous version (non-class outputs)
        metrics["previous_closeness"] = min(report.previous_closeness.values())
    return metrics


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
        self._behind_since: float | None = None
        """`PolicyState.behind_since` during a check: the download rules escalate from it."""
        self.store = ModelStore(self.home, keep=self.config.keep, recover=False)
        self.source = ReleaseSource(
            self.home,
            self.config.server,
            self.config.model,
            timeout=self.config.timeout_s,
            metadata_deadline_s=self.config.metadata_deadline_s,
            min_throughput=self.config.min_throughput_bytes_s,
        )
        self._deadline = time.monotonic() + self.config.check_deadline_s
        self.telemetry = TelemetryQueue(
            self.home, self.config.server, self.config.device_id, self.config.token
        )

    def _default_conditions(self) -> ConditionsProvider:
        if self.config.conditions_file:
            return JsonConditions(Path(self.config.conditions_file), SystemConditions(self.home))
        return SystemConditions(self.home)

    # ------------------------------------------------------------------ one cycle

    def check(self, flush_telemetry: bool = True, state: PolicyState | None = None) -> CheckResult:
        """One update cycle. Never raises for the outside world's faults: they are results.

        The store lock is held only for local steps (recovery, the crash-loop counter,
        probation, commit and activation), never across the network or the gate, so
        `rollback`, `status`, `predict` and the app never wait on a slow server.

        Args:
            flush_telemetry: post the queued events at the end (the run loop batches them).
            state: the run loop's policy state. None (a one-shot check): the state stored
                in `agent.json`, whose `behind_since` this check keeps current, so a device
                checked by cron still escalates its download rules.

        Returns:
            A `CheckResult`; `completed` is False when the cycle could not finish (server
            unreachable, metadata that fails verification).
        """
        t0 = time.perf_counter()
        self._deadline = time.monotonic() + self.config.check_deadline_s
        stored = self._stored_policy_state() if state is None else None
        self._behind_since = (state or stored or PolicyState()).behind_since
        self.source.fetcher = None
        try:
            with self.store.lock:
                self.store.recover()
                local = self._crash_loop_step() or self._probation_step()
            result = local or self._cycle()
        except VerificationError as exc:
            result = self._result("error", str(exc), completed=False)
        except UnreachableError as exc:
            result = self._result("error", str(exc), completed=False)
        except UserError as exc:
            result = self._result("error", str(exc), completed=False)
        except OSError as exc:  # disk full or failing storage: every write is atomic, so
            # the store is as it was before the check (staging and .tmp files are dropped)
            result = self._result("error", f"storage error: {exc}", completed=False)
        result.bytes_downloaded = self.source.bytes_moved
        result.seconds = round(time.perf_counter() - t0, 4)
        with contextlib.suppress(OSError):  # a full disk must not turn a result into a crash
            if flush_telemetry:  # within what is left of the check's deadline
                self.telemetry.flush(deadline_s=min(10.0, max(0.5, self._left())))
                result.warnings = self.telemetry.warnings()
            self._remember(result, self._one_shot_state(state, stored, result))
        return result

    def _one_shot_state(
        self, state: PolicyState | None, stored: PolicyState | None, result: CheckResult
    ) -> PolicyState | None:
        """The stored state with `behind_since` moved on by a one-shot check's outcome
        (None: nothing to store, or the run loop stores its own state)."""
        if state is not None:
            return None
        outcome = result.action if result.action in OUTCOMES else "error"
        before = stored.behind_since if stored else None
        behind = next_behind_since(before, self.clock.now(), outcome)
        if behind == before:
            return None
        # no stored state: record only behind_since (next_check 0: "not scheduled"), so
        # `status` invents no schedule for a cron-driven device and `run` still starts fresh
        return replace(stored or PolicyState(), behind_since=behind)

    def _left(self) -> float:
        return self._deadline - time.monotonic()

    def _result(self, action: str, reason: str = "", **kw: Any) -> CheckResult:
        return CheckResult(action, self.store.active_version(), reason, **kw)

    def _crash_loop_step(self) -> CheckResult | None:
        """The boot counter: the last agent died while attempting a version. After
        `max_attempts` deaths the version is blocked and reported, never retried."""
        died = self.store.died_attempting()
        if died is None:
            return None
        version, deaths = died
        if deaths < self.config.max_attempts:
            return None  # try again: a power cut is not the model's fault
        reason = (
            f"the agent died {deaths} times while attempting version {version}"
            " (crash loop): blocked"
        )
        self.store.block(version, reason)
        self.telemetry.record("rejected", self.config.model, version, reason)
        return self._result("rejected", reason, version=version)

    def _cycle(self) -> CheckResult:
        """Choose and install; a device left with no model after a refusal tries the next
        newest offered release in the same cycle (the refused one is blocked by then), so a
        device that joins during a bad release runs the newest good one at once."""
        result = self._cycle_once()
        refused: list[str] = []
        while (
            result.action == "rejected"
            and result.completed
            and self.store.active_version() is None
            and len(refused) < MAX_FALLBACKS
            and self._left() > 0
        ):
            refused.append(f"release {result.version} refused: {result.reason}")
            after = self._cycle_once()
            if after.action == "none":  # nothing else offered: the refusal is the news
                break
            result = after
        if refused and result.action == "installed":
            result.reason = "; ".join([*refused, result.reason]).strip("; ")
        return result

    def _cycle_once(self) -> CheckResult:
        cfg = self.config
        st = self.store.state()
        conditions = self.conditions.read()
        with self.source.session(deadline=self._deadline) as s:
            index = s.index()
            installed = self.store.installed()
            choice = choose_release(
                index,
                s.rollout(),
                device_id=cfg.device_id,
                channel=cfg.channel,
                active=st.active,
                highest=st.highest_activated,
                blocked=st.blocked,
                # versions ran before and unblocked by an operator: eligible again
                allowed_again={
                    v for v in installed if v <= st.highest_activated and v not in st.blocked
                },
            )
            if choice.kind == "none":
                return self._result("none", choice.reason)
            version = choice.version
            assert version is not None
            release = index.release(version)
            assert release is not None
            if version in installed and version not in st.blocked:
                # installed and gated before a crash or an earlier switch: just activate
                return self._activate_installed(version, choice)
            if choice.kind == "back" and version in installed:
                self.store.rollback(to=version, reason=choice.reason)
                self._report_rollback(st.active, version, choice.reason, by_operator=True)
                return self._result("rolled_back", choice.reason, version=version)
            try:
                return self._install(s, index, release, conditions, st.active)
            except VerificationError as exc:  # a target failed its signed hashes: refuse it
                reason = f"release {version} refused: {exc}"
                self.telemetry.record("rejected", cfg.model, version, reason)
                return self._result("rejected", reason, version=version, completed=False)

    def _activate_installed(self, version: int, choice) -> CheckResult:
        st = self.store.state()
        if choice.kind == "back":  # the operator aborted the active release
            self.store.rollback(to=version, reason=choice.reason)
            self._report_rollback(st.active, version, choice.reason, by_operator=True)
            return self._result("rolled_back", choice.reason, version=version)
        now = self.clock.now()
        self.store.activate(
            version,
            self.config.probation.start(version, now, previous=st.active),
            reason="installed earlier",
        )
        self.telemetry.record("activated", self.config.model, version, "installed earlier")
        m = self.store.manifest(version)
        return self._result(
            "installed", "already on disk", version=version, variant=m.variant, source="local"
        )

    # ------------------------------------------------------------------ install: plan, gate, commit

    def _install(self, s, index: ReleaseIndex, release: Release, conditions, active) -> CheckResult:
        """Plan (which variants, which expected signature), then try each variant in rank
        order (`_try_variant`); the first that passes the gate is committed. The attempt is
        recorded durably around it all (the boot counter)."""
        plan = self._plan(index, release, conditions, active)
        if isinstance(plan, CheckResult):
            return plan
        refusals: list[str] = []
        refused_sha: list[str] = []
        with self.store.attempt(release.version):
            for name, entry in plan.ranked:
                outcome = self._try_variant(s, index, release, plan, name, entry, conditions)
                if isinstance(outcome, CheckResult):  # installed, or deferred by the policy
                    return outcome
                refusals.append(f"{name}: {outcome.reason}")
                if outcome.checks.get("latency") is False:
                    continue  # too slow on this device, not bad bytes: try the next variant
                refused_sha.append(entry.sha256)
                break
        return self._refuse(release.version, "; ".join(refusals), refused_sha)

    def _try_variant(
        self, s, index: ReleaseIndex, release: Release, plan: _Plan, name: str, entry, conditions
    ):
        """May we download it now? Fetch (patch first), gate in isolation, commit.
        Returns a CheckResult (installed/deferred) or the failed HealthReport."""
        active = plan.active_manifest.version if plan.active_manifest else None
        p = patch_or_full.plan(
            entry,
            name,
            active,
            plan.active_manifest.variant if plan.active_manifest else None,
            self.store.model_path(active) if active is not None else None,
        )
        local, fetch = self._release_files(release)
        extra = sum(ref.bytes for ref in fetch)  # golden, drift, card: judged with the model
        go = self.policy.may_download(
            self.clock.now(),
            conditions,
            p.size + extra,
            full_bytes=entry.bytes + extra,
            behind_since=self._behind_since,
        )
        if not go.go:
            return self._result(
                "deferred",
                go.reason,
                version=release.version,
                variant=name,
                details={"bytes": p.size + extra},
            )
        self._check_signed_info(s, release, name, entry)
        with self.store.staging() as stage:
            model_file = stage / f"{name}.tflite"
            src, nbytes, note = patch_or_full.fetch(s, p, model_file)
            current = plan.active_manifest.variant if plan.active_manifest else None
            profile = self.config.profile()
            swap = swap_reason(release, plan.ranked, name, current, profile, plan.why_not)
            note = "; ".join(part for part in (note, swap) if part)
            for ref in fetch:
                s.download(ref.path, stage / _file_name(ref))
            for ref, path in local:
                self.store.copy_in(path, stage / _file_name(ref))
            report = self._gate(model_file, stage, plan, release, entry)
            if report.ok:
                report = self._against_previous(model_file, stage, release, name, report)
            crashpoint("gate.checked")
            metrics = _metrics(report, nbytes)
            if report.ok:
                result = self._commit(
                    stage, release, name, entry, report, src, nbytes, note, metrics, index
                )
                if go.lifted_by:
                    result.escalation = self.policy.rules.escalation_text(go.lifted_by)
                return result
        reason = f"{name}: {report.reason}"
        self.telemetry.record(
            "health_failed", self.config.model, release.version, reason, **metrics
        )
        return report

    def _against_previous(self, model_file: Path, stage: Path, release: Release, name, report):
        """The gate against the last good release (`health.against_previous`): the
        variant's answers on the active version's golden inputs, within the band the
        publisher measured against that version (class agreement, per-output closeness)."""
        active = self.store.active_version()
        folder = self.store.versions_dir / str(active)
        return against_previous(model_file, folder, stage, release, name, active, report)

    def _plan(self, index: ReleaseIndex, release: Release, conditions, active):
        """Variants that fit this device, in rank order, minus bytes refused before."""
        active_manifest = self.store.manifest(active) if active is not None else None
        ranked, why_not = rank_variants(
            release,
            self.config.profile(),
            conditions,
            current=active_manifest.variant if active_manifest else None,
        )
        if not ranked:
            return self._result(
                "rejected", f"no variant fits this device: {why_not}", version=release.version
            )
        known_bad = self.store.state().refused_sha256
        fresh = [(n, e) for n, e in ranked if e.sha256 not in known_bad]
        if not fresh:
            name, entry = ranked[0]
            reason = (
                f"{name}: the same bytes (sha256 {entry.sha256[:12]}) were refused before"
                f" ({known_bad[entry.sha256]}); `litefleet agent unblock` to allow them"
            )
            return self._refuse(release.version, reason, [])
        expected = self.config.pinned_signature or (
            active_manifest.signature if active_manifest else index.signature
        )
        return _Plan(fresh, expected, active_manifest, why_not)

    def _release_files(self, release: Release) -> tuple[list[tuple[FileRef, Path]], list[FileRef]]:
        """The release's files already on the device (unchanged since an installed
        version: copied, never downloaded again) and those to fetch."""
        local, fetch = [], []
        for ref in release.files():
            have = self.store.find_file(_file_name(ref), ref.sha256)
            if have is not None:
                local.append((ref, have))
            else:
                fetch.append(ref)
        return local, fetch

    def _check_signed_info(self, s, release: Release, name: str, entry) -> None:
        info = s.variant_info(entry.path)
        want = (self.config.model, release.version, name, entry.sha256)
        if (info.model, info.version, info.variant, info.sha256) != want:
            raise VerificationError(f"{entry.path}: signed custom data disagrees with index")

    def _gate(self, model_file: Path, stage: Path, plan: _Plan, release: Release, entry):
        """The health gate, in a child process with limits (never in this process)."""
        cfg = self.config
        limits = gate_limits(
            signed_latency_ms=entry.latency_ms_p50,
            latency_budget_ms=cfg.latency_budget_ms,
            samples=500,
            timeout_s=cfg.gate_timeout_s,
            memory_mb=cfg.gate_memory_mb,
        )
        left = self._left()
        if left < limits.wall_s:  # the check's own deadline caps the gate too
            limits = Limits(wall_s=max(1.0, left), cpu_s=limits.cpu_s, memory_mb=limits.memory_mb)
        return isolated_health_check(
            model_file,
            stage / GOLDEN_INPUTS,
            reference_path=stage / GOLDEN_REFERENCE,
            expected=plan.expected,
            gate=release.gate,  # every output judged as the release says
            latency_budget_ms=cfg.latency_budget_ms,
            limits=limits,
        )

    def _commit(
        self,
        stage: Path,
        release: Release,
        name: str,
        entry,
        report,
        src: str,
        nbytes: int,
        note: str,
        metrics: dict[str, float],
        index: ReleaseIndex,
    ) -> CheckResult:
        """Gated: move the staged version into the store and activate it (store lock only)."""
        cfg, version = self.config, release.version
        manifest = Manifest(
            model=cfg.model,
            version=version,
            variant=name,
            file=f"{name}.tflite",
            precision=entry.precision,
            sha256=entry.sha256,
            bytes=entry.bytes,
            signature=report.signature or index.signature,
            accuracy=report.accuracy,
            latency_ms=report.latency_ms,
            source=src,
            installed=self.clock.now(),
        )
        with self.store.lock:
            if version in self.store.state().blocked:  # an operator blocked it meanwhile
                reason = f"blocked while installing: {self.store.state().blocked[version]}"
                return self._result("rejected", reason, version=version)
            self.store.commit(stage, manifest)
            before = self.store.active_version()
            probation = cfg.probation.start(
                version,
                self.clock.now(),
                previous=before,
                expected_agreement=_expected_agreement(release, name, before),
            )
            self.store.activate(version, probation, reason=f"{src} {name}")
        self.telemetry.record("installed", cfg.model, version, f"{src} {name}", **metrics)
        self.telemetry.record("activated", cfg.model, version, "", **metrics)
        return self._result(
            "installed",
            note,
            version=version,
            variant=name,
            source=src,
            model_bytes=nbytes,
            details=metrics,
        )

    def _refuse(self, version: int, reason: str, sha256: list[str]) -> CheckResult:
        self.store.block(version, reason, sha256)
        self.telemetry.record("rejected", self.config.model, version, reason)
        return self._result("rejected", reason, version=version)

    # ------------------------------------------------------------------ probation / rollback

    def _probation_step(self) -> CheckResult | None:
        st = self.store.state()
        p = st.probation
        if p is None or p.version != st.active:
            return None
        feedback = read_feedback(self.home, p.version)
        canary = read_canary(self.home, p.version)
        verdict, reason = probation_verdict(
            p, feedback, self.clock.now(), self.config.probation, canary
        )
        if canary is not None and verdict != "pending" and canary.samples:
            # what the server's judge weighs: one summary per device and release
            self.telemetry.record(
                "canary", self.config.model, p.version, verdict, **canary.metrics()
            )
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
            live = canary.metrics() if canary is not None else {}
            self._report_rollback(
                p.version,
                to,
                reason,
                drift=feedback.drift,
                error_rate=feedback.error_rate,
                **{f"canary_{k}": v for k, v in live.items()},
            )
            return self._result("rolled_back", reason, version=to)
        if verdict == "passed":
            self.store.end_probation(p.version)
        return None

    def _report_rollback(
        self, left: int | None, to: int, reason: str, by_operator: bool = False, **metrics: float
    ) -> None:
        """`rolled_back` names the version left (the server counts it as failed) or, for an
        operator's move (`agent rollback`, an aborted release), `operator_rollback` (never a
        failure); then `activated` names the one running now."""
        kind = "operator_rollback" if by_operator else "rolled_back"
        self.telemetry.record(kind, self.config.model, left, f"to {to}: {reason}", **metrics)
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
        self._report_rollback(before, version, reason, by_operator=True)
        self.telemetry.flush(deadline_s=0.5)  # a local command: a slow server waits its turn
        return self._result("rolled_back", reason, version=version)

    # ------------------------------------------------------------------ the long run

    @property
    def state_path(self) -> Path:
        return self.home / "agent.json"

    def policy_state(self) -> PolicyState:
        """The stored policy state, or a fresh start (keeping the `behind_since` one-shot
        checks recorded)."""
        stored = self._stored_policy_state()
        if stored is not None and stored.next_check:
            return stored
        fresh = self.policy.start(self.clock.now(), self.rng)
        return replace(fresh, behind_since=stored.behind_since) if stored else fresh

    def _stored_policy_state(self) -> PolicyState | None:
        data = (read_json(self.state_path) or {}).get("policy")
        if not data:
            return None
        try:  # files from before behind_since load; a hand-edited one only loses its schedule
            state = PolicyState(**data)
            for value in asdict(state).values():
                if value is not None and (isinstance(value, bool) or not math.isfinite(value)):
                    raise TypeError(value)
        except (TypeError, ValueError):
            return None
        return state

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

    def step(
        self, state: PolicyState, nudged: str | None = None
    ) -> tuple[PolicyState, CheckResult | None]:
        """One tick of the run loop: probation, then a check if the strategy says so or a
        push nudge asks for one (`nudged`: its reason; the download rules still apply)."""
        result = self.watch_probation()
        if result is not None:
            result.trigger = "probation verdict"
        feedback = self.feedback()
        now = self.clock.now()
        if result is None and nudged is None and not self.policy.due(state, now, feedback):
            return state, None
        if result is None:
            trigger = nudged or self.policy.why_due(state, now, feedback)
            result = self.check(flush_telemetry=False, state=state)
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
        push=None,
    ) -> None:
        """Loop until `stop` is set (or `max_cycles` checks ran). `push`: a
        `device.push.PushChannel` whose due nudges trigger checks between polls."""
        stop = stop or threading.Event()
        state = self.policy_state()
        with contextlib.suppress(OSError):  # `agent status` shows next_check from the start
            self._remember_policy(state)
        cycles = 0
        while not stop.is_set():
            state, result = self.step(state, push.take() if push else None)
            if result is not None:
                cycles += 1
                if on_result:
                    on_result(result)
                if max_cycles is not None and cycles >= max_cycles:
                    return
            wait = max(0.0, min(tick, state.next_check - self.clock.now()))
            if isinstance(self.clock, SystemClock) and push is not None:
                push.wait(wait)  # wakes early when a nudge arrives or falls due
            elif isinstance(self.clock, SystemClock):
                stop.wait(wait)
            else:
                self.clock.sleep(max(wait, 1e-3))
