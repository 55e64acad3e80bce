"""What push did lately: the last nudges sent and whether the broker took them.

`push.notify` runs in whichever process signed the change (the CLI's `publish` and
`rollout`, or a server worker: console actions, the automatic halt, promotions). They
share the online keys folder, not a database (the CLI does not know the server's), so the
log is a small file there: `KEYS/push-log.json`, the newest `KEEP` nudges, each with
when, what (model, kind, version) and the broker's answer (delivered, or the error).
The console's overview shows it with the broker URL (`push.json`, password never shown).

    PushLog(keys_dir).record(Nudge.of("digits", "abort", 3), delivered=True)
    PushLog(keys_dir).recent()    # [SentNudge(time=…, kind="abort", delivered=True, …), …]
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from litefleet.lock import FileLock
from litefleet.nudge import Nudge
from litefleet.registry.keys import write_private_file

LOG_FILE = "push-log.json"
KEEP = 50


@dataclass(frozen=True)
class SentNudge:
    time: float
    model: str
    kind: str
    version: int | None
    delivered: bool
    error: str = ""


@dataclass(frozen=True)
class PushStatus:
    broker: str | None
    """The broker URL of `KEYS/push.json`; None: push is off."""
    nudges: list[SentNudge] = field(default_factory=list)
    """Newest first."""
    problem: str = ""
    """Why the settings or the log could not be read (shown, never raised)."""


class PushLog:
    def __init__(self, keys_dir: Path) -> None:
        self.path = Path(keys_dir) / LOG_FILE

    def record(self, nudge: Nudge, delivered: bool, error: str = "") -> None:
        entry = SentNudge(time.time(), nudge.model, nudge.kind, nudge.version, delivered, error)
        with FileLock(self.path.with_name(".push-log.lock"), timeout=10):
            kept = [e.__dict__ for e in self.recent()][: KEEP - 1]
            data = {"schema": 1, "nudges": [entry.__dict__, *kept]}
            write_private_file(self.path, json.dumps(data, indent=1).encode())

    def recent(self) -> list[SentNudge]:
        """Newest first; an unreadable or foreign file reads as empty."""
        try:
            raw = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        if not isinstance(raw, dict) or raw.get("schema") != 1:
            return []
        out = []
        for e in raw.get("nudges", []):
            try:
                out.append(SentNudge(**e))
            except TypeError:
                continue
        return out
