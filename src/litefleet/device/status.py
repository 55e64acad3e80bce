"""`agent status`: one dictionary that says what the device runs and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litefleet.device.config import load_config
from litefleet.device.store import ModelStore
from litefleet.device.telemetry import TelemetryQueue
from litefleet.fsutil import read_json


def status_of(home: Path) -> dict[str, Any]:
    home = Path(home)
    cfg = load_config(home)
    store = ModelStore(home, keep=cfg.keep, recover=False)
    st = store.state()
    agent = read_json(home / "agent.json") or {}
    active = store.active_version()
    manifest = store.manifest(active) if active is not None else None
    return {
        "model": cfg.model,
        "server": cfg.server,
        "device_id": cfg.device_id,
        "channel": cfg.channel,
        "strategy": cfg.strategy,
        "active": active,
        "variant": manifest.variant if manifest else None,
        "previous": st.previous,
        "installed": store.installed(),
        "highest_activated": st.highest_activated,
        "blocked": st.blocked,
        "probation": st.probation.model_dump() if st.probation else None,
        "last_check": agent.get("last"),
        "next_check": (agent.get("policy") or {}).get("next_check"),
        "telemetry_queued": len(TelemetryQueue(home, None, cfg.device_id).pending()),
        "history": [h.model_dump() for h in st.history[-10:]],
    }
