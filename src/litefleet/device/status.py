"""`agent status`: one dictionary that says what the device runs, why, and what comes next.

Times are given as Unix seconds *and* in words (`in 5 min`, `3 h ago`) so a person reading
`agent status` and a tool reading `--json` both get what they need.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from litefleet.device.config import load_config
from litefleet.device.store import ModelStore
from litefleet.device.telemetry import TelemetryQueue
from litefleet.fsutil import read_json


def status_of(home: Path, now: float | None = None) -> dict[str, Any]:
    home = Path(home)
    now = time.time() if now is None else now
    cfg = load_config(home)
    store = ModelStore(home, keep=cfg.keep, recover=False)
    st = store.state()
    agent = read_json(home / "agent.json") or {}
    active = store.active_version()
    manifest = store.manifest(active) if active is not None else None
    policy = cfg.make_policy()
    next_check = (agent.get("policy") or {}).get("next_check")
    behind_since = (agent.get("policy") or {}).get("behind_since")
    telemetry = TelemetryQueue(home, cfg.server, cfg.device_id, cfg.token)
    return {
        "model": cfg.model,
        "server": cfg.server,
        "device_id": cfg.device_id,
        "channel": cfg.channel,
        "strategy": cfg.strategy,
        "download_rules": policy.rules.describe() if cfg.strategy != "periodic" else "any network",
        "active": active,
        "variant": manifest.variant if manifest else None,
        "previous": st.previous,
        "installed": store.installed(),
        "highest_activated": st.highest_activated,
        "blocked": st.blocked,
        "probation": st.probation.model_dump() if st.probation else None,
        "probation_text": _probation_words(st.probation, cfg, home, now),
        "last_check": agent.get("last"),
        "last_check_time": agent.get("last_time"),
        "next_check": next_check,
        "next_check_text": _when(next_check, now) if next_check else "not scheduled (no `run`)",
        "behind_since": behind_since,
        "behind_text": _behind_words(policy, behind_since, now),
        "metadata": metadata_age(home, now),
        "telemetry_queued": len(telemetry.pending()),
        "warnings": telemetry.warnings(),
        "history": [h.model_dump() for h in st.history[-10:]],
        "push": _push_words(cfg, home, now),
    }


def _push_words(cfg, home: Path, now: float) -> dict[str, Any]:
    """The push channel: configured?, connected (as the last `run` saw it), last nudge."""
    from litefleet.device.push import push_status

    if cfg.push is None or not cfg.push.enabled:
        return {"enabled": False, "text": "off (polling only)"}
    seen = push_status(home) or {}
    if not seen:
        state = "not started (no `agent run` yet)"
    elif seen.get("connected"):
        state = f"connected since {_when(seen['since'], now).removesuffix(' (due)')}"
    else:
        since = (
            f" since {_when(seen['since'], now).removesuffix(' (due)')}"
            if seen.get("since")
            else ""
        )
        state = f"disconnected{since}" + (f" ({seen['error']})" if seen.get("error") else "")
    last = seen.get("last_nudge")
    nudge = (
        f"last nudge {last['kind']} {last.get('version') or ''} "
        f"{_when(last['at'], now).removesuffix(' (due)')}".replace("  ", " ")
        if last
        else "no nudge yet"
    )
    counts = f"{seen.get('nudges', 0)} nudges, {seen.get('checks', 0)} nudged checks"
    return {
        "enabled": True,
        "broker": cfg.push.broker,
        **seen,
        "text": f"{cfg.push.broker}: {state}; {nudge}; {counts}",
    }


def _when(t: float, now: float) -> str:
    d = t - now
    word = _span(abs(d))
    return f"in {word}" if d >= 0 else f"{word} ago (due)"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _behind_words(policy, behind_since: float | None, now: float) -> str:
    """'behind since <time>, escalation k/n (<step>)' while a download waits; '' when not."""
    if behind_since is None:
        return ""
    from litefleet.device.policy import PolicyState

    level, steps, step = policy.escalation(PolicyState(behind_since=behind_since), now)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(behind_since))
    text = f"behind since {when} ({_span(now - behind_since)} ago)"
    if not steps:
        return f"{text}, escalation off"
    return f"{text}, escalation {level}/{steps} ({step or 'normal rules'})"


def _probation_words(p, cfg, home: Path, now: float) -> str:
    if p is None:
        return "none"
    from litefleet.device.runtime import read_feedback

    fb = read_feedback(home, p.version)
    left = max(0.0, p.since + p.seconds - now)
    return (
        f"version {p.version} on probation since {_span(now - p.since)} ago: passes after"
        f" {p.predictions} clean predictions ({fb.predictions} so far) or in {_span(left)};"
        f" rolled back if the error rate exceeds {cfg.probation.max_error_rate:g}"
        f" or drift exceeds {cfg.probation.max_drift:g}"
    )


def metadata_age(home: Path, now: float) -> dict[str, Any]:
    """How fresh the trusted TUF metadata is: when a new timestamp last arrived (python-tuf
    stores only a newer one, so a device an attacker freezes shows a growing age even while
    its checks "succeed") and when each role expires; see SECURITY.md."""
    meta = Path(home) / "tuf"
    out: dict[str, Any] = {}
    ts = meta / "timestamp.json"
    if ts.exists():
        refreshed = ts.stat().st_mtime
        out["refreshed"] = refreshed
        out["age_s"] = round(now - refreshed, 1)
        out["age_text"] = f"newest timestamp received {_span(now - refreshed)} ago"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            expires = (read_json(ts) or {})["signed"]["expires"]
            out["age_text"] += f", expires {expires}"
    else:
        out["age_text"] = "no timestamp yet (no successful check)"
    for role in ("timestamp", "snapshot", "targets", "root"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            signed = (read_json(meta / f"{role}.json") or {})["signed"]
            out[f"{role}_version"] = signed["version"]
            out[f"{role}_expires"] = signed["expires"]
    return out


def unusable_home_result(home: Path, reason: str):
    """The `check` result when the agent cannot even start (invalid config): an `error`
    naming the reason; the store is not touched, so the active model keeps serving."""
    from litefleet.device.agent import CheckResult

    active = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = read_json(Path(home) / "active")
        active = int(data["version"]) if data else None
    return CheckResult("error", active, reason, completed=False)
