"""The push channel's shared vocabulary: nudge format, MQTT topics, device broker credentials.

A nudge says only "the signed state of MODEL changed, check now". It carries no authority:
the device answers it with its normal TUF-verified check, so a forged, replayed or
reordered nudge can at most cause one (rate-limited) check. The server and the device both
import this module (it is neutral: pydantic and hashlib only).

Topics: `litefleet/model/<model>` (every device that follows the model) and
`litefleet/device/<device id>` (one device). A device's broker account is its device id
and a password derived from its telemetry token (`mqtt_password`), so enrolling a device
gives it both without a second secret to ship; the broker stores only a PBKDF2 hash of it
(`mosquitto_hash`, the `$7$` format of `mosquitto_passwd`).

    nudge = Nudge(model="digits", kind="abort", version=3)
    topic = model_topic("digits")             # 'litefleet/model/digits'
    nudge.urgency                             # 'now'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["release", "stage", "pause", "resume", "abort", "check"]
Urgency = Literal["now", "spread"]

URGENCY_OF: dict[str, Urgency] = {
    "release": "spread",
    "stage": "spread",
    "resume": "spread",
    "check": "spread",
    "pause": "now",
    "abort": "now",
}
"""A pause or an abort stops harm: the fleet asks at once. Anything that makes devices
download is spread over a few minutes (device setting `push.release_spread_s`) to spare
the server."""

TOPIC_ROOT = "litefleet"
MAX_NUDGE_BYTES = 512
"""A nudge is ~80 bytes; anything bigger is not one (and is dropped unread)."""


class Nudge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    kind: Kind
    version: int | None = Field(default=None, ge=0)
    urgency: Urgency = "spread"

    @classmethod
    def of(cls, model: str, kind: Kind, version: int | None) -> Nudge:
        return cls(model=model, kind=kind, version=version, urgency=URGENCY_OF[kind])

    def describe(self) -> str:
        at = f" {self.version}" if self.version is not None else ""
        return f"{self.kind}{at} ({self.urgency})"


def model_topic(model: str) -> str:
    return f"{TOPIC_ROOT}/model/{model}"


def device_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/device/{device_id}"


def mqtt_password(token: str) -> str:
    """The device's broker password: HMAC-SHA256(token, "litefleet-mqtt"), hex.

    Knowing it gives no telemetry token back (HMAC is one-way), so a leaked broker
    password file or a hostile broker never lets anyone post events as the device."""
    return hmac.new(token.encode(), b"litefleet-mqtt", hashlib.sha256).hexdigest()


def mosquitto_hash(password: str, iterations: int = 101, salt: bytes | None = None) -> str:
    """A password-file hash in Mosquitto 2's `$7$` format (PBKDF2-SHA512, as
    `mosquitto_passwd` writes it). The passwords are 256-bit random values, so the
    iteration count only matters against a broker that must hash at every connect."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"
