"""Publish a nudge when the signed state of a model changes (release, stage, pause, resume,
abort), so online devices check now instead of at their next poll.

The three places that sign a new state call `notify` once their transaction is committed:
`publish` (a release), `change_rollout` (the operator's stage, pause, resume, abort) and
`pause_if_active` (the server's automatic halt). `notify` never raises: the signed state is
the truth and devices still poll, so a broker that is down costs latency, never a change.

Where the broker is, and the server's own publisher account, is `KEYS/push.json` (mode 0600,
in the online keys folder the server and the CLI already read), written by
`litefleet deploy mosquitto`. No file: push is off and `notify` does nothing.

    notify(repo, "digits", "abort", 3)    # after the abort is signed
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from litefleet.errors import UserError
from litefleet.nudge import Kind, Nudge, device_topic, model_topic
from litefleet.registry.keys import write_private_file
from litefleet.registry.pushlog import LOG_FILE, PushLog, PushStatus

log = logging.getLogger("litefleet.push")
PUSH_FILE = "push.json"
PUBLISH_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class PushSettings:
    """The server side of the push channel: broker URL and the publisher account."""

    broker: str
    username: str
    password: str

    def save(self, keys_dir: Path) -> Path:
        path = Path(keys_dir) / PUSH_FILE
        write_private_file(path, json.dumps(asdict(self), indent=1).encode())
        return path

    @classmethod
    def load(cls, keys_dir: Path) -> PushSettings | None:
        path = Path(keys_dir) / PUSH_FILE
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise UserError(f"{path} is invalid: {exc}") from None


def broker_address(url: str) -> tuple[str, int]:
    """`mqtt://HOST:PORT` -> (host, port); 1883 when no port is given."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise UserError(f"broker URL must look like mqtt://HOST:PORT, not {url!r}")
    try:
        port = parts.port or 1883
    except ValueError:
        raise UserError(f"broker URL {url!r} has an invalid port") from None
    return parts.hostname, port


class Publisher:
    """One broker connection that sends nudges (QoS 1: the broker acknowledged each)."""

    def __init__(self, settings: PushSettings, client_id: str = "") -> None:
        import paho.mqtt.client as mqtt

        self.settings = settings
        self._connected = threading.Event()
        self._refused: str | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(settings.username, settings.password)
        self.client.connect_timeout = (
            PUBLISH_TIMEOUT_S  # a black-holed broker: seconds, not minutes
        )
        self.client.on_connect = self._on_connect

    def _on_connect(self, _client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        self._connected.set()

    def __enter__(self) -> Publisher:
        host, port = broker_address(self.settings.broker)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(PUBLISH_TIMEOUT_S) or self._refused:
            self.__exit__()
            raise ConnectionError(f"broker {self.settings.broker}: {self._refused or 'no answer'}")
        return self

    def send(self, nudge: Nudge, device_id: str | None = None) -> None:
        topic = device_topic(device_id) if device_id else model_topic(nudge.model)
        info = self.client.publish(topic, nudge.model_dump_json(), qos=1)
        info.wait_for_publish(PUBLISH_TIMEOUT_S)
        if not info.is_published():
            raise ConnectionError(f"broker {self.settings.broker} did not acknowledge {topic}")

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def notify(repo, model: str, kind: Kind, version: int | None) -> bool:
    """Nudge the devices of `model` after a signed change; True when the broker took it.
    The outcome goes to `KEYS/push-log.json` (`pushlog.py`: the console shows it).

    Never raises: the change is signed already and every device still polls."""
    nudge, error = None, ""
    try:
        nudge = Nudge.of(model, kind, version)
        settings = PushSettings.load(repo.keys.path)
        if settings is None:
            return False
        with Publisher(settings) as pub:
            pub.send(nudge)
    except Exception as exc:  # a down broker must never undo or fail a signed change
        error = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        log.warning(
            "push: could not nudge %s (%s %s): %s; devices learn it at their next poll",
            model,
            kind,
            version,
            exc,
        )
    try:
        if nudge is not None:
            PushLog(repo.keys.path).record(nudge, delivered=not error, error=error)
    except Exception as exc:  # the log is for people; the nudge went (or not) regardless
        log.warning("push: could not record the nudge in %s: %s", LOG_FILE, exc)
    return not error


def push_status(keys_dir: Path) -> PushStatus:
    """Broker URL (never the password) and the recent nudges, for the console; never
    raises (a broken `push.json` is shown as the problem)."""
    try:
        settings = PushSettings.load(keys_dir)
        return PushStatus(settings.broker if settings else None, PushLog(keys_dir).recent())
    except (UserError, OSError) as exc:
        return PushStatus(None, problem=str(exc).splitlines()[0][:300])
