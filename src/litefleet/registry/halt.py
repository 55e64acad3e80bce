"""The automatic halt: which reports count, when a release is paused, and who decided.

Two rules pause a release, each counting distinct devices, never events: the failure rule
below, and the canary judge (`judge.py`: a binomial test over the devices' live canary
verdicts, minimum 3 devices, false-alarm rate at most 1e-4 per evaluation).

The rule (`HaltRule`): pause a release when at least `min_failed` distinct devices failed it
(health gate refused it, or it was rolled back), at least `min_devices` tried it, and the
failed share is above `threshold`. Only devices that

1. are enrolled (each report carries the device's own token, `tokens.py`: a token used for
   another device id is refused with 403, so one device is one vote), and
2. were *offered* the release: in its rollout cohort (`litefleet.release.in_rollout`, the
   same function the device uses to decide) when they reported,

are counted, each once, whatever it sends. A report for a release a device was not offered
is stored (`fleet status` shows it) but never moves the halt.

How many colluding devices it takes: with `H` honest devices in the cohort that tried the
release and did not fail it, `k` colluders (enrolled, in the cohort, each with its own
token) halt it only when `k >= min_failed`, `k + H >= min_devices` and
`k / (k + H) > threshold`, i.e. `k >= max(min_failed, min_devices - H,
floor(threshold * H / (1 - threshold)) + 1)`. With the defaults (0.2, 5 tried, 3 failed):
3 colluders when few honest devices have reported, and more than a quarter of the honest
reporters after that (`colluders_needed`). Fewer never halt (tests/registry/test_halt.py).

The decision state lives in the database (`halts` table, one row per release: who paused
it, when, why; who resumed it, when), so every worker and every restart sees one truth:

- at most one automatic pause per release until an operator resumes it: a worker must win
  a compare-and-set on the row (`generation`) before it signs, and only the winner signs
  the paused rollout, once, under the repository lock;
- an operator resumes with `litefleet rollout --resume` (signed rollout state, the one
  truth devices see). The first worker that notices the signed state active again records
  the resume; from then on only devices whose first failure arrives after the resume
  count, so the devices behind the first pause never pause it again by repeating
  themselves; new evidence (the rule met again by new devices) may pause it once more.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from litefleet.registry.db import halts
from litefleet.registry.judge import CanaryJudge, Judgement
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import pause_if_active, read_rollout
from litefleet.registry.telemetry import ReleaseHealth, TelemetryStore
from litefleet.release import ReleaseIndex, RolloutEntry, RolloutState, in_rollout, index_path

log = logging.getLogger("litefleet.halt")
STALE_CLAIM_S = 120.0
"""A worker that claimed a pause and died before signing frees the claim after this."""


@dataclass(frozen=True)
class HaltRule:
    """Pause when > `threshold` of at least `min_devices` devices that tried a release
    failed it, and at least `min_failed` devices failed it (counting rules: module doc)."""

    threshold: float = 0.2
    min_devices: int = 5
    min_failed: int = 3

    def should_halt(self, health: ReleaseHealth) -> bool:
        return (
            health.tried >= self.min_devices
            and health.failed >= self.min_failed
            and health.failure_rate > self.threshold
        )

    def reason(self, health: ReleaseHealth) -> str:
        return (
            f"auto-halt: {health.failed}/{health.tried} enrolled devices in the rollout "
            f"failed or rolled back ({health.failure_rate:.0%} > {self.threshold:.0%})"
        )

    def colluders_needed(self, honest: int) -> int:
        """Fewest colluding devices that can halt a release `honest` good devices tried."""
        by_share = math.floor(self.threshold * honest / (1 - self.threshold)) + 1
        return max(self.min_failed, self.min_devices - honest, by_share)


class RolloutView:
    """Signed rollout state of every model, re-read only when `timestamp.json` changes
    (every signed change ends with a new timestamp), so a batch costs one `stat`."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._stamp: int | None = None
        self._states: dict[str, RolloutState | None] = {}

    def entry(self, model: str, version: int) -> RolloutEntry | None:
        state = self.state(model)
        return state.rollouts.get(version) if state else None

    def state(self, model: str) -> RolloutState | None:
        stamp = (self.repo.metadata_dir / "timestamp.json").stat().st_mtime_ns
        if stamp != self._stamp:
            self._states, self._stamp = {}, stamp
        if model not in self._states:
            try:
                self._states[model] = read_rollout(self.repo, model)
            except Exception:  # an unknown model name, or a file being replaced
                self._states[model] = None
        return self._states[model]

    def offered(self, device_id: str, model: str, version: int) -> bool:
        """Was `device_id` in the release's cohort: the device's own rule, same hash."""
        entry = self.entry(model, version)
        return entry is not None and in_rollout(device_id, model, version, entry.percent)


@dataclass(frozen=True)
class HaltRecord:
    model: str
    version: int
    state: str
    generation: int
    pauses: int
    reason: str
    paused_at: float | None
    paused_by: str
    signed_updated: str
    resumed_at: float | None
    resumed_by: str


class HaltBook:
    """The `halts` table: compare-and-set transitions any worker may attempt."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, model: str, version: int) -> HaltRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(halts).where((halts.c.model == model) & (halts.c.version == version))
            ).first()
        return HaltRecord(**row._mapping) if row else None

    def all(self) -> list[HaltRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(halts).order_by(halts.c.model, halts.c.version)).all()
        return [HaltRecord(**r._mapping) for r in rows]

    def claim(self, model: str, version: int, seen: HaltRecord | None, reason: str) -> int | None:
        """Take the right to pause; the new generation, or None when another worker has it."""
        now, who = time.time(), _worker_name()
        values = {"state": "pausing", "reason": reason, "paused_at": now, "paused_by": who}
        if seen is None:
            try:  # one transaction of its own: a lost race aborts it (PostgreSQL)
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(halts).values(model=model, version=version, generation=1, **values)
                    )
            except IntegrityError:
                return None
            return 1
        with self.engine.begin() as conn:
            claimable = halts.c.state.in_(("armed", "resumed")) | (
                (halts.c.state == "pausing") & (halts.c.paused_at < now - STALE_CLAIM_S)
            )
            done = conn.execute(
                update(halts)
                .where(
                    (halts.c.model == model)
                    & (halts.c.version == version)
                    & (halts.c.generation == seen.generation)
                    & claimable
                )
                .values(generation=seen.generation + 1, **values)
            )
        return seen.generation + 1 if done.rowcount == 1 else None

    def paused(self, model: str, version: int, generation: int, signed_updated: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(halts)
                .where(
                    (halts.c.model == model)
                    & (halts.c.version == version)
                    & (halts.c.generation == generation)
                )
                .values(state="paused", pauses=halts.c.pauses + 1, signed_updated=signed_updated)
            )

    def unclaim(self, model: str, version: int, generation: int, first: bool) -> None:
        """The pause could not be signed (or was not needed): let a later report try again."""
        where = (
            (halts.c.model == model)
            & (halts.c.version == version)
            & (halts.c.generation == generation)
        )
        with self.engine.begin() as conn:
            if first:
                conn.execute(delete(halts).where(where))
            else:
                conn.execute(update(halts).where(where).values(state="armed"))

    def resumed(self, record: HaltRecord, by: str) -> bool:
        """Record an operator's resume of a paused release (once, whoever notices first)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(halts)
                .where(
                    (halts.c.model == record.model)
                    & (halts.c.version == record.version)
                    & (halts.c.generation == record.generation)
                    & (halts.c.state == "paused")
                )
                .values(
                    state="resumed",
                    generation=record.generation + 1,
                    resumed_at=time.time(),
                    resumed_by=by,
                )
            )
        return done.rowcount == 1


class HaltKeeper:
    """Applies the rule for one server worker; all shared state is in `HaltBook`."""

    def __init__(
        self,
        repo: Repository,
        store: TelemetryStore,
        rule: HaltRule,
        view: RolloutView,
        judge: CanaryJudge | None = None,
    ) -> None:
        self.repo, self.store, self.rule, self.view = repo, store, rule, view
        self.book = HaltBook(store.engine)
        self.judge = judge or CanaryJudge()

    def sync(self, model: str, version: int) -> HaltRecord | None:
        """The release's row, after recording an operator's resume if one happened."""
        record = self.book.get(model, version)
        entry = self.view.entry(model, version)
        if (
            record is not None
            and record.state == "paused"
            and entry is not None
            and entry.status == "active"
        ):  # we signed it paused, and the signed state is active again: only a resume does that
            when = entry.updated or "unknown time"
            if self.book.resumed(record, f"operator (signed rollout state, {when})"):
                log.warning("%s %s resumed by an operator", model, version)
            record = self.book.get(model, version)
        return record

    def sync_all(self) -> list[HaltRecord]:
        return [self.sync(r.model, r.version) or r for r in self.book.all()]

    def judgement(self, model: str, version: int, since: float | None = None) -> Judgement:
        """The canary judge over the devices' live summaries of one release."""
        summaries = self.store.canary_summaries(model, version, since)
        return self.judge.judge(summaries, expected_agreement(self.repo, model, version))

    def health(self, model: str, version: int, since: float | None) -> ReleaseHealth:
        tried, failed = self.store.halt_counts(model, version, since)
        return ReleaseHealth(model, version, tried, failed, 0, 0, 0)

    def consider(self, model: str, version: int) -> bool:
        """Pause the release if the rule says so and no worker did; True when this one did."""
        entry = self.view.entry(model, version)
        if entry is None or entry.status != "active":
            return False
        record = self.sync(model, version)
        if record is not None and (
            record.state == "paused"
            or (record.state == "pausing" and (record.paused_at or 0) > time.time() - STALE_CLAIM_S)
        ):
            return False  # paused, or another worker is signing the pause right now
        since = record.resumed_at if record else None
        # the judge first: when the same reports satisfy both (devices roll back because
        # their canaries failed), its reason names the live agreement, the count does not
        judgement = self.judgement(model, version, since)
        if judgement.verdict == "bad":
            reason = judgement.reason
        elif self.rule.should_halt(health := self.health(model, version, since)):
            reason = self.rule.reason(health)
        else:
            return False
        generation = self.book.claim(model, version, record, reason)
        if generation is None:
            return False  # another worker is pausing it
        try:
            signed = pause_if_active(self.repo, model, version, reason)
        except Exception:
            self.book.unclaim(model, version, generation, first=record is None)
            raise
        if signed is None:  # an operator paused or aborted it meanwhile
            self.book.unclaim(model, version, generation, first=record is None)
            return False
        self.book.paused(model, version, generation, signed.updated)
        log.warning("paused %s %s: %s", model, version, reason)
        return True


def expected_agreement(repo: Repository, model: str, version: int) -> float | None:
    """The lowest agreement with the previous release the publisher measured on the golden
    inputs (`QualityRecord`), or None when it measured none."""
    try:
        data = repo.read_target(index_path(model))
        release = ReleaseIndex.model_validate_json(data).release(version) if data else None
    except Exception:  # an unreadable index: the judge's default expectation
        return None
    q = release.quality if release else None
    if q is None:
        return None
    # the variants' top-class agreement only (the record also holds per-output closeness)
    top = [q.agreement_with_previous[v] for v in release.variants if v in q.agreement_with_previous]
    return min(top) if top else None


def _worker_name() -> str:
    return f"server {socket.gethostname()} pid {os.getpid()}"
