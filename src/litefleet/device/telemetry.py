"""Telemetry with a local queue: events are appended to a file first, sent when possible.

`TelemetryQueue.record()` only appends a line (never touches the network), so inference and
updates never wait for the server. `flush()` posts batches of `EventBatch` to
`POST {server}/v1/devices/{device_id}/events` and drops them from the queue once the server
accepted them; a dead server leaves them queued (bounded, oldest dropped first).

A refused token (401/403) is not a silent, growing queue: the last refusal is kept in
`telemetry/refused.json` until a flush succeeds, and `warnings()` turns it into the line that
`agent check --json` and `agent status` show.

Every event carries an `id` (uuid4 hex) and a `seq` from a per-device counter kept in
`telemetry/seq`, so the server stores each event once and never lets an older report
overwrite newer state (a replayed capture changes nothing). The counter starts at the
current time in microseconds when the file is missing: a device whose home was wiped
still counts upward from where it was.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from pathlib import Path

from litefleet.fsutil import atomic_write_bytes, atomic_write_json, read_json
from litefleet.lock import FileLock
from litefleet.release import EventBatch, TelemetryEvent


class TelemetryQueue:
    def __init__(
        self,
        home: Path,
        server: str | None,
        device_id: str,
        token: str | None = None,
        max_events: int = 10_000,
        timeout: float = 3.0,
    ) -> None:
        self.dir = Path(home) / "telemetry"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "queue.jsonl"
        self.lock = FileLock(self.dir / "queue.lock")
        self.server = server.rstrip("/") if server else None
        self.device_id = device_id
        self.token = token
        self.max_events = max_events
        self.timeout = timeout

    def record(
        self, type: str, model: str, version: int | None = None, reason: str = "", **metrics: float
    ) -> None:
        with self.lock:
            event = TelemetryEvent(
                type=type,
                model=model,
                version=version,
                time=time.time(),  # type: ignore[arg-type]
                reason=reason[:1000],
                # the server refuses NaN/Infinity (not JSON): drop them, keep the event
                metrics={k: float(v) for k, v in metrics.items() if math.isfinite(v)},
                id=uuid.uuid4().hex,
                seq=self._next_seq(),
            )
            with open(self.path, "a") as f:
                f.write(event.model_dump_json() + "\n")

    @property
    def seq_path(self) -> Path:
        return self.dir / "seq"

    def _next_seq(self) -> int:
        """The next value of the device's event counter (caller holds the queue lock)."""
        try:
            last = int(self.seq_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            last = time.time_ns() // 1000  # a wiped home keeps counting upward
        atomic_write_bytes(self.seq_path, str(last + 1).encode())
        return last + 1

    def pending(self) -> list[TelemetryEvent]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(TelemetryEvent.model_validate_json(line))
            except ValueError:
                continue  # a line cut by a crash: drop it
        return out

    def flush(self, deadline_s: float = 10.0) -> int:
        """Send what is queued; returns how many events the server accepted.

        The queue lock is not held while posting (recording an event never waits on the
        network), and the whole flush ends by `deadline_s`: a server that drips its answer
        leaves the rest queued for the next flush (events are sent at least once)."""
        if not self.server:
            return 0
        with self.lock:
            queued = self.pending()
        events = queued[-self.max_events :]
        skipped = len(queued) - len(events)
        accepted = [0]
        worker = threading.Thread(target=self._post, args=(events, accepted), daemon=True)
        worker.start()
        worker.join(deadline_s)
        sent = accepted[0]
        with self.lock:
            now = self.pending()
            done = queued[: skipped + sent]
            same = [e.model_dump_json() for e in now[: len(done)]] == [
                e.model_dump_json() for e in done
            ]
            rest = (now[len(done) :] if same else now)[-self.max_events :]
            atomic_write_bytes(
                self.path, "".join(e.model_dump_json() + "\n" for e in rest).encode()
            )
            return sent

    def _post(self, events: list[TelemetryEvent], accepted: list[int]) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.server}/v1/devices/{self.device_id}/events"
        try:
            with httpx.Client(timeout=self.timeout) as client:
                for start in range(0, len(events), 500):
                    chunk = events[start : start + 500]
                    body = EventBatch(events=chunk).model_dump_json()
                    r = client.post(
                        url,
                        content=body,
                        headers={**headers, "Content-Type": "application/json"},
                    )
                    if r.status_code in (401, 403):
                        self._refused(url, r.status_code, r.text[:200])
                        break  # a credential problem: keep the events, say so
                    if r.status_code >= 300 and (
                        r.status_code in (408, 429) or r.status_code >= 500
                    ):
                        break  # worth retrying later
                    accepted[0] += len(chunk)  # accepted, or refused for good: do not resend
                else:
                    self.refused_path.unlink(missing_ok=True)
        except httpx.HTTPError:
            pass

    @property
    def refused_path(self) -> Path:
        return self.dir / "refused.json"

    def _refused(self, url: str, status: int, body: str) -> None:
        atomic_write_json(
            self.refused_path, {"url": url, "status": status, "body": body, "time": time.time()}
        )

    def warnings(self) -> list[str]:
        """What an operator must fix for telemetry to flow ([] when nothing)."""
        try:
            data = read_json(self.refused_path)
        except ValueError:
            data = None
        if not data:
            return []
        why = "token missing or invalid" if data["status"] == 401 else "token not for this device"
        return [
            f"telemetry refused: HTTP {data['status']} from {data['url']} ({why});"
            f" {len(self.pending())} event(s) queued"
        ]
