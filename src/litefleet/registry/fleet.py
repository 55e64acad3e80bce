"""What the fleet runs: per model and release, devices running, failing, rolled back, rollout.

The server computes a `FleetReport` from the telemetry store and the signed repository
(`GET /v1/fleet`, `/metrics`); `litefleet fleet status` fetches and prints it. The automatic
halt rule lives here too, so the numbers a user sees are the numbers the server acted on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

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


class FleetReport(BaseModel):
    releases: list[FleetRow]


@dataclass(frozen=True)
class HaltRule:
    """Pause a release when more than `threshold` of at least `min_devices` that tried it
    failed its health gate or rolled it back."""

    threshold: float = 0.2
    min_devices: int = 5

    def should_halt(self, health: ReleaseHealth) -> bool:
        return health.tried >= self.min_devices and health.failure_rate > self.threshold

    def reason(self, health: ReleaseHealth) -> str:
        return (
            f"auto-halt: {health.failed}/{health.tried} devices failed or rolled back "
            f"({health.failure_rate:.0%} > {self.threshold:.0%})"
        )


def fleet_report(repo: Repository, store: TelemetryStore) -> FleetReport:
    """Published releases (with rollout state) joined with what devices reported."""
    rows: dict[tuple[str, int], FleetRow] = {}
    for model in repo.models():
        data = repo.read_target(index_path(model))
        if data is None:
            continue
        index = ReleaseIndex.model_validate_json(data)
        state = read_rollout(repo, model)
        for release in index.releases:
            entry = state.rollouts.get(release.version) if state else None
            rows[(model, release.version)] = FleetRow(
                model=model,
                version=release.version,
                channel=release.channel,
                rollout_percent=entry.percent if entry else None,
                rollout_status=entry.status if entry else None,
                rollout_reason=entry.reason if entry else "",
            )
    for model, version in store.releases():
        rows.setdefault((model, version), FleetRow(model=model, version=version))
    for (model, version), row in rows.items():
        h = store.health(model, version)
        rows[(model, version)] = row.model_copy(
            update={
                "running": h.running,
                "tried": h.tried,
                "failed": h.failed,
                "health_failed": h.health_failed,
                "rolled_back": h.rolled_back,
                "failure_rate": round(h.failure_rate, 4),
            }
        )
    return FleetReport(releases=[rows[k] for k in sorted(rows)])


def fetch_fleet(server: str, timeout: float = 10.0) -> FleetReport:
    """`GET /v1/fleet` from a running server."""
    import httpx

    from litefleet.errors import UserError

    try:
        resp = httpx.get(f"{server.rstrip('/')}/v1/fleet", timeout=timeout)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise UserError(f"cannot read the fleet from {server}: {exc}") from exc
    return FleetReport.model_validate_json(resp.content)
