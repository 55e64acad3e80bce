"""What the fleet runs: per model and release, devices running, failing, rolled back, rollout.

The server computes a `FleetReport` from the telemetry store, the signed repository and the
halt decisions (`GET /v1/fleet`, `/metrics`); `litefleet fleet status` prints it
(`fleetclient.py`). The rule that pauses a release is in `halt.py`.
"""

from __future__ import annotations

from pydantic import BaseModel

from litefleet.registry.halt import HaltRecord, expected_agreement
from litefleet.registry.judge import CanaryJudge
from litefleet.registry.quality import read_policy
from litefleet.registry.repository import Repository
from litefleet.registry.rollout import read_rollout
from litefleet.registry.telemetry import ReleaseHealth, TelemetryStore
from litefleet.release import ReleaseIndex, index_path


class FleetRow(BaseModel):
    model: str
    version: int
    channel: str | None = None
    running: int = 0
    tried: int = 0
    failed: int = 0
    health_failed: int = 0
    rolled_back: int = 0
    failure_rate: float = 0.0
    rollout_percent: float | None = None
    rollout_status: str | None = None
    rollout_reason: str = ""
    rollout_tags: list[str] = []
    halt_state: str | None = None
    """The server's decision: pausing, paused, resumed (by an operator), armed; None: none."""
    auto_pauses: int = 0
    canary_devices: int = 0
    """Distinct devices that sent a live canary summary of this release."""
    canary_failed: int = 0
    live_agreement: float | None = None
    """Pooled live agreement with the previous version over those devices."""
    judge: str | None = None
    """The canary judge's verdict: good, bad or unsure (None: no summary yet)."""
    quality_floor: float | None = None
    """The model's quality floor (`litefleet repo floor`; set at the first publish)."""


class FleetReport(BaseModel):
    releases: list[FleetRow]
    tag: str | None = None
    """The counts are of this device group only (None: the whole fleet)."""


def fleet_report(
    repo: Repository,
    store: TelemetryStore,
    decisions: list[HaltRecord] = (),
    tag: str | None = None,
    judge: CanaryJudge | None = None,
) -> FleetReport:
    """Published releases (with rollout state) joined with what devices reported
    (two grouped queries whatever the number of releases and devices); `judge`: the
    server's own (its settings), so the view says what promotion and halts act on."""
    judge = judge or CanaryJudge()
    rows: dict[tuple[str, int], FleetRow] = {}
    for model in repo.models():
        data = repo.read_target(index_path(model))
        if data is None:
            continue
        index = ReleaseIndex.model_validate_json(data)
        state = read_rollout(repo, model)
        floor = read_policy(repo, model).floor
        for release in index.releases:
            entry = state.rollouts.get(release.version) if state else None
            rows[(model, release.version)] = FleetRow(
                model=model,
                version=release.version,
                channel=release.channel,
                rollout_percent=entry.percent if entry else None,
                rollout_status=entry.status if entry else None,
                rollout_reason=entry.reason if entry else "",
                rollout_tags=entry.tags if entry else [],
                quality_floor=floor,
            )
    health = store.health_all(tag)
    for model, version in health:
        rows.setdefault((model, version), FleetRow(model=model, version=version))
    halts = {(d.model, d.version): d for d in decisions}
    for (model, version), row in rows.items():
        h = health.get((model, version)) or ReleaseHealth(model, version, 0, 0, 0, 0, 0)
        decision = halts.get((model, version))
        summaries = store.canary_summaries(model, version)
        judged = (
            judge.judge(summaries, expected_agreement(repo, model, version)) if summaries else None
        )
        rows[(model, version)] = row.model_copy(
            update={
                "running": h.running,
                "tried": h.tried,
                "failed": h.failed,
                "health_failed": h.health_failed,
                "rolled_back": h.rolled_back,
                "failure_rate": round(h.failure_rate, 4),
                "halt_state": decision.state if decision else None,
                "auto_pauses": decision.pauses if decision else 0,
                "canary_devices": len(summaries),
                "canary_failed": judged.failed if judged else 0,
                "live_agreement": round(judged.agreement, 4) if judged else None,
                "judge": judged.verdict if judged else None,
            }
        )
    return FleetReport(releases=[rows[k] for k in sorted(rows)], tag=tag)
