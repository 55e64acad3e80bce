"""The device end of the push channel: an MQTT subscription that turns nudges into checks.

A nudge only says "check now" (`litefleet.nudge`); what the device does is its normal
TUF-verified check, so nothing a broker sends can change what gets installed. The rules:

- every (re)connect schedules a full check (changes made while the device was offline
  were never pushed to it: the check finds them);
- a pause or an abort (`urgency: now`) is checked at once; anything that leads to a
  download is spread uniformly over `release_spread_s` to spare the server;
- nudge-triggered checks pass a token bucket (`min_interval_s`, `burst`): a flood of
  nudges, forged or not, coalesces into at most `burst` checks, then one per interval;
- polling goes on at the strategy's normal interval, and the strategy's download rules
  still decide whether a check may download; a check that finds a pause or an abort acts
  on it whatever the strategy (stopping needs no download).

The run loop asks `take()` for a due check and waits with `wait()`; paho's network thread
only records nudges. `HOME/push.json` holds what `agent status` shows.

    channel = PushChannel(cfg.push, home, model, device_id, token).start()
    reason = channel.take()        # "push: abort 3 (now)" when a check is due, else None
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from litefleet.fsutil import atomic_write_json, read_json
from litefleet.nudge import MAX_NUDGE_BYTES, Nudge, device_topic, model_topic, mqtt_password

STATUS_FILE = "push.json"


class PushConfig(BaseModel):
    """`push` in the device's config.json (`agent init --push URL`, `agent push`)."""

    model_config = ConfigDict(extra="forbid")

    broker: str = Field(pattern=r"^mqtts?://[^\s/:]+(:\d{1,5})?/?$")
    """mqtt://HOST:PORT (mqtts:// for TLS with the system's CAs)."""
    enabled: bool = True
    halt_spread_s: float = Field(default=0.0, ge=0)
    """A pause/abort nudge: check within this (0: at once; a fleet of millions behind one
    small server may want a few seconds, see docs/push.md)."""
    release_spread_s: float = Field(default=180.0, ge=0)
    """A release/stage/resume nudge: check at a uniform random point within this."""
    reconnect_spread_s: float = Field(default=30.0, ge=0)
    """After each (re)connect: a full check at a uniform random point within this (a
    broker restart must not bring the whole fleet to the server in one second)."""
    min_interval_s: float = Field(default=30.0, gt=0)
    """Nudge-triggered checks: one per this many seconds once the burst is spent."""
    burst: int = Field(default=2, ge=1)
    keepalive_s: int = Field(default=60, ge=5)


class RateLimit:
    """A token bucket: `burst` tokens, one more every `every_s` seconds."""

    def __init__(self, every_s: float, burst: int, now: float) -> None:
        self.every_s, self.burst = every_s, burst
        self.tokens, self.last = float(burst), now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.last) / self.every_s)
        self.last = now

    def ready_at(self, now: float) -> float:
        self._refill(now)
        return now if self.tokens >= 1 else now + (1 - self.tokens) * self.every_s

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class NudgeGate:
    """Pending nudge-triggered check: due time (jitter by urgency) and rate limit.

    Pure logic on an injected clock and random stream (the simulator's rule too)."""

    def __init__(self, cfg: PushConfig, now: float, rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.rng = rng or random.Random()
        self.limit = RateLimit(cfg.min_interval_s, cfg.burst, now)
        self.due: float | None = None
        self.reason = ""

    def nudge(self, now: float, urgency: str, reason: str) -> None:
        spread = {"now": self.cfg.halt_spread_s, "spread": self.cfg.release_spread_s}.get(
            urgency, self.cfg.reconnect_spread_s
        )
        due = now + self.rng.uniform(0, spread) if spread else now
        if self.due is None or due < self.due:  # coalesce: the earliest wins
            self.due, self.reason = due, reason

    def next_at(self, now: float) -> float | None:
        if self.due is None:
            return None
        return max(self.due, self.limit.ready_at(now))

    def take(self, now: float) -> str | None:
        if self.due is None or self.due > now or not self.limit.take(now):
            return None
        reason, self.due, self.reason = self.reason, None, ""
        return reason


class PushChannel:
    """The MQTT client (paho, its own network thread, automatic reconnect) and the gate."""

    def __init__(self, cfg: PushConfig, home: Path, model: str, device_id: str, token: str) -> None:
        import paho.mqtt.client as mqtt

        self.cfg, self.home, self.model, self.device_id = cfg, Path(home), model, device_id
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.gate = NudgeGate(cfg, time.monotonic())
        self.status: dict[str, Any] = {
            "broker": cfg.broker,
            "connected": False,
            "since": None,
            "last_nudge": None,
            "nudges": 0,
            "ignored": 0,
            "checks": 0,
            "connects": 0,
            "pid": os.getpid(),
        }
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"litefleet-{device_id}"
        )
        self.client.username_pw_set(device_id, mqtt_password(token))
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        parts = urlsplit(cfg.broker)
        if parts.scheme == "mqtts":
            self.client.tls_set()
        self._host = parts.hostname or ""
        self._port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    # ------------------------------------------------------------------ life

    def start(self) -> PushChannel:
        self._save()
        self.client.connect_async(self._host, self._port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()  # retries the first connection too: a broker down at boot
        return self

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            self.status.update(connected=False, since=time.time())
            self._save()

    # ------------------------------------------------------------------ the run loop's side

    def take(self) -> str | None:
        """The reason for a nudge-triggered check due now (rate limit passed), else None."""
        with self._lock:
            self._wake.clear()
            reason = self.gate.take(time.monotonic())
            if reason:
                self.status["checks"] += 1
                self._save()
            return reason

    def wait(self, timeout: float) -> None:
        """Sleep up to `timeout`, less when a nudge is due or arrives meanwhile."""
        with self._lock:
            at = self.gate.next_at(time.monotonic())
        if at is not None:
            timeout = min(timeout, max(0.0, at - time.monotonic()))
        self._wake.wait(timeout)

    # ------------------------------------------------------------------ paho's thread

    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:  # refused (bad credentials): paho retries with backoff
            with self._lock:
                self.status.update(connected=False, error=str(reason))
                self._save()
            return
        client.subscribe([(model_topic(self.model), 1), (device_topic(self.device_id), 1)])
        with self._lock:
            self.status.update(connected=True, since=time.time(), error=None)
            self.status["connects"] += 1
            self.gate.nudge(time.monotonic(), "reconnect", "push: (re)connected")
            self._save()
        self._wake.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:
        with self._lock:
            self.status.update(connected=False, since=time.time(), error=str(reason))
            self._save()

    def _on_message(self, _client, _userdata, msg) -> None:
        nudge = self._parse(msg.payload)
        with self._lock:
            if nudge is None:
                self.status["ignored"] += 1
                self._save()
                return
            self.status["nudges"] += 1
            self.status["last_nudge"] = {**nudge.model_dump(), "at": time.time()}
            self.gate.nudge(time.monotonic(), nudge.urgency, f"push: {nudge.describe()}")
            self._save()
        self._wake.set()

    def _parse(self, payload: bytes) -> Nudge | None:
        if len(payload) > MAX_NUDGE_BYTES:
            return None
        try:
            nudge = Nudge.model_validate_json(payload)
        except ValidationError:
            return None
        return nudge if nudge.model == self.model else None

    def _save(self) -> None:
        with contextlib.suppress(OSError):  # a full disk costs the status line, not the loop
            atomic_write_json(self.home / STATUS_FILE, {**self.status, "updated": time.time()})


def start_push(config, home: Path) -> PushChannel | None:
    """The channel `agent run` uses, or None when push is off for this device."""
    push = config.push
    if push is None or not push.enabled or not config.token:
        return None
    return PushChannel(push, home, config.model, config.device_id, config.token).start()


def push_status(home: Path) -> dict[str, Any] | None:
    """What the last `agent run` recorded (None: push never ran on this home)."""
    data = read_json(Path(home) / STATUS_FILE)
    return data if isinstance(data, dict) else None
