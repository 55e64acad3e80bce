"""`serve --promote-min-devices N --promote-interval S` reach the server's settings: how a
small fleet (the demo's five devices) lets staged rollouts promote, and how often the
server looks. The promotion itself is proven end to end in tests/device/test_auto_promotion
(same `CanaryJudge.min_devices_good`) and by the demo."""

from __future__ import annotations

from typer.testing import CliRunner

import litefleet.registry.server as server
from litefleet.cli import app
from litefleet.registry.repository import Repository


def _settings(tmp_path, monkeypatch, *flags: str) -> server.ServerSettings:
    repo = Repository.init(tmp_path / "repo").path
    seen: list[server.ServerSettings] = []
    monkeypatch.setattr(server, "serve", lambda settings, **_: seen.append(settings))
    result = CliRunner().invoke(app, ["serve", str(repo), *flags], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert server.ServerSettings.from_env(settings.to_env()) == settings  # --workers N too
    return settings


def test_defaults_are_the_documented_ones(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    assert settings.judge.min_devices_good == 5 and settings.promote_interval == 60.0


def test_a_small_fleet_sets_its_own_evidence_and_pace(tmp_path, monkeypatch):
    flags = ("--promote-min-devices", "2", "--promote-interval", "1.5")
    settings = _settings(tmp_path, monkeypatch, *flags)
    assert settings.judge.min_devices_good == 2 and settings.promote_interval == 1.5
    assert settings.judge.min_devices == 3  # pausing a bad release needs what it needed


def test_the_fleet_view_judges_with_the_servers_judge(tmp_path):
    """`fleet status` says `good` exactly when this server's judge would promote."""
    from litefleet.registry.fleet import fleet_report
    from litefleet.registry.judge import CanaryJudge
    from litefleet.registry.telemetry import TelemetryStore
    from litefleet.release import EventBatch, TelemetryEvent

    repo = Repository.init(tmp_path / "repo")
    store = TelemetryStore(f"sqlite:///{tmp_path / 'telemetry.db'}")
    for seq, device in enumerate(("cam-1", "cam-2"), start=1):
        summary = {"agreement": 0.99, "samples": 400.0, "previous": 1.0}
        event = TelemetryEvent(
            type="canary", model="m", version=2, time=1.0, reason="passed", metrics=summary
        )
        store.add(device, EventBatch(events=[event.model_copy(update={"seq": seq})]), 2.0, _all)

    def verdict(judge: CanaryJudge | None) -> str | None:
        (row,) = fleet_report(repo, store, judge=judge).releases
        return row.judge

    assert verdict(None) == "unsure"  # the default judge wants 5 devices
    assert verdict(CanaryJudge(min_devices_good=2)) == "good"
    store.engine.dispose()


def _all(device_id: str, model: str, version: int) -> bool:
    return True
